"""Helpers shared by the orders tests."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, OutboxMessage
from orders.models import Fill, Order, OrderEvent, Position, PositionLot, RiskLimit, ScheduledOrder
from orders.services import fill_record, order_submit, position_record_broker

NEW_YORK = ZoneInfo("America/New_York")
ORDERS = reverse("api-v1:order-list")


def submit(*, actor, account, instrument, **overrides):
    """Enter a limit order to buy 10 at 100.00 through the service, with any field overridden."""
    fields = {
        "side": "BUY",
        "quantity": Decimal("10"),
        "order_type": "LMT",
        "limit_price": Decimal("100.00"),
        "source": "admin",
        "via": "test",
    }
    fields.update(overrides)
    return order_submit(actor=actor, account=account, instrument=instrument, **fields)


def working(order: Order, *, ib_order_id: int = 7) -> Order:
    """``order`` (entered through the service) published, accepted by the broker as ``ib_order_id`` and
    reported Submitted with nothing filled: a working order as the bridge leaves it."""
    from orders.services import order_apply_broker_status, order_mark_accepted

    OutboxMessage.objects.update(published_at=timezone.now())
    order_mark_accepted(client_order_id=order.client_order_id, order_id=ib_order_id, message_id=uuid.uuid4())
    order_apply_broker_status(
        client_order_id=order.client_order_id,
        status="Submitted",
        filled=Decimal(0),
        remaining=order.quantity,
        avg_fill_price=None,
        order_id=ib_order_id,
        message_id=uuid.uuid4(),
    )
    order.refresh_from_db()
    return order


def row_counts() -> dict[str, int]:
    """Rows of every table a service of the order path writes."""
    return {
        "orders": Order.objects.count(),
        "events": OrderEvent.objects.count(),
        "audit": AuditLog.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "fills": Fill.objects.count(),
        "positions": Position.objects.count(),
        "lots": PositionLot.objects.count(),
    }


def order_body(**changes) -> dict:
    """The API body of a limit order to buy 10 AAPL at 100.00 on DU0000001, with ``changes``."""
    body = {
        "account": "DU0000001",
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": "10",
        "order_type": "LMT",
        "limit_price": "100.00",
    }
    body.update(changes)
    return body


def post_order(client, body: dict, key: str | None = None):
    """POST ``body`` to the orders API with ``key`` (a fresh one if absent) as its ``Idempotency-Key``."""
    return client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY=key or str(uuid.uuid4()))


# The API body of a scheduled order: buy 5 AAPL at the market, 09:31 New York, Monday to Friday.
SCHEDULE = {
    "name": "open buy",
    "account": "DU0000001",
    "symbol": "AAPL",
    "side": "BUY",
    "quantity": "5",
    "order_type": "MKT",
    "time_of_day": "09:31:00",
    "time_zone": "America/New_York",
    "weekdays": "0,1,2,3,4",
}


def schedules_due_in(account, instrument, seconds: float, count: int, *, grace: int = 600) -> list[ScheduledOrder]:
    """Create ``count`` schedules, each due ``seconds`` from now, every day, without an exchange calendar.

    The account's order rate limit is raised so that every occurrence can fire in one minute.
    """
    RiskLimit.objects.filter(account=account).update(orders_per_minute=10_000)
    due = (timezone.now() + timedelta(seconds=seconds)).astimezone(NEW_YORK)
    return [
        ScheduledOrder.objects.create(
            name=f"schedule {n}",
            account=account,
            instrument=instrument,
            side="BUY",
            quantity=Decimal("1"),
            order_type="MKT",
            time_of_day=due.time(),
            time_zone="America/New_York",
            weekdays="0,1,2,3,4,5,6",
            exchange_calendar="",
            grace_seconds=grace,
        )
        for n in range(count)
    ]


def fill(account, instrument, side, quantity, price, *, at=None, order=None):
    """Record a fill of ``side`` for ``quantity`` at ``price`` (now, unless ``at``) through ``fill_record``."""
    return fill_record(
        exec_id=f"e-{uuid.uuid4().hex[:12]}",
        account=account,
        instrument=instrument,
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        executed_at=at or timezone.now(),
        order=order,
    )


def buy(account, instrument, quantity, price, *, at=None, order=None):
    """Record a fill buying ``quantity`` at ``price`` (now, unless ``at``) through ``fill_record``."""
    return fill(account, instrument, "BUY", quantity, price, at=at, order=order)


def sell(account, instrument, quantity, price, *, at=None, order=None):
    """Record a fill selling ``quantity`` at ``price`` (now, unless ``at``) through ``fill_record``."""
    return fill(account, instrument, "SELL", quantity, price, at=at, order=order)


def entry_form(account, instrument, **changes) -> dict:
    """The fields of the order-entry form (the admin's add page, the Market page's ticket): a buy limit
    order for 10 at 100.00 under a fresh client order id; ``changes`` replace or add fields."""
    fields = {
        "client_order_id": str(uuid.uuid4()),
        "account": account.pk,
        "instrument": instrument.pk,
        "side": "BUY",
        "quantity": "10",
        "order_type": "LMT",
        "limit_price": "100.00",
        "stop_price": "",
        "tif": "DAY",
    }
    fields.update(changes)
    return fields


def report_broker(account, instrument, quantity, *, at=None):
    """Record the broker's position of ``quantity`` (average cost 100) as ``position_record_broker`` does."""
    position_record_broker(
        account=account, instrument=instrument, quantity=quantity, average_cost="100", reported_at=at or timezone.now()
    )


def set_policy(account, **fields):
    """Set the monitor's policy fields of the account's risk limit."""
    RiskLimit.objects.filter(account=account).update(**fields)


def run_together(count: int, work) -> tuple[list, list]:
    """Run ``work(n)`` in ``count`` threads released at once; return results and errors."""
    barrier = threading.Barrier(count, timeout=10)
    results, errors = [], []

    def body(n):
        try:
            barrier.wait()
            results.append(work(n))
        except Exception as error:  # collected and asserted on by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors
