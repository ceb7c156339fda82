"""Orders learnt from the broker: a strategy's order sent straight to the worker, or one placed in TWS by hand."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from accounts.models import AuditLog
from orders.exceptions import InstrumentUnknown
from orders.models import Order, OrderEvent, OrderSource, OrderStatus
from orders.services import OrderEventKind, order_record_broker

pytestmark = pytest.mark.django_db


def record(account, **overrides):
    fields = {
        "client_order_id": str(uuid.uuid4()),
        "account": account,
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": Decimal("10"),
        "order_type": "LMT",
        "limit_price": Decimal("99.50"),
        "order_id": 41,
        "perm_id": 900041,
        "source": OrderSource.STRATEGY,
        "message_id": uuid.uuid4(),
    }
    return order_record_broker(**{**fields, **overrides})


def test_a_strategy_order_is_recorded_submitted_under_its_client_order_id_with_its_event_and_audit_row(
    account, instrument
):
    client_order_id = str(uuid.uuid4())
    order = record(account, client_order_id=client_order_id)
    order.refresh_from_db()
    assert (str(order.client_order_id), order.status, order.source) == (
        client_order_id,
        OrderStatus.SUBMITTED,
        OrderSource.STRATEGY,
    )
    assert (order.instrument, order.order_type, order.limit_price, order.ib_order_id, order.perm_id) == (
        instrument,
        "LMT",
        Decimal("99.50"),
        41,
        900041,
    )
    event = order.events.get()
    assert (event.kind, event.to_status, event.data) == (
        OrderEventKind.RECORDED_FROM_BROKER,
        OrderStatus.SUBMITTED,
        {"order_id": 41, "perm_id": 900041},
    )
    audit = AuditLog.objects.get(action="order.record_broker")
    assert (audit.object_id, audit.via, audit.after["source"]) == (str(order.pk), "bridge", "strategy")


def test_recording_the_same_client_order_id_again_returns_the_first_row_and_writes_nothing(account, instrument):
    first = record(account)
    again = record(account, client_order_id=str(first.client_order_id), quantity=Decimal("99"))
    assert again.pk == first.pk and again.quantity == Decimal("10")
    assert (Order.objects.count(), OrderEvent.objects.count(), AuditLog.objects.count()) == (1, 1, 1)


def test_an_order_placed_in_tws_is_keyed_by_its_perm_id_with_a_fresh_client_order_id(account, instrument):
    first = record(account, client_order_id=None, perm_id=777, source=OrderSource.EXTERNAL)
    again = record(account, client_order_id=None, perm_id=777, source=OrderSource.EXTERNAL)
    assert again.pk == first.pk and first.source == OrderSource.EXTERNAL
    assert isinstance(first.client_order_id, uuid.UUID)
    assert Order.objects.count() == 1


def test_an_order_type_the_console_does_not_know_is_kept_as_a_market_order(account, instrument):
    order = record(account, order_type="TRAIL", limit_price=None)
    assert order.order_type == "MKT"


def test_an_order_in_an_instrument_the_desk_does_not_have_is_refused_and_leaves_no_rows(account, instrument):
    with pytest.raises(InstrumentUnknown) as refused:
        record(account, symbol="ZZZZ")
    assert refused.value.code == "instrument.unknown"
    assert (Order.objects.count(), OrderEvent.objects.count(), AuditLog.objects.count()) == (0, 0, 0)
