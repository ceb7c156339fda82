"""Executions of orders the book never saw: dead-lettered and alerted, never booked as a new order (#15, finding 7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Alert
from execution_worker import messages as m
from orders.models import Fill, Order, OrderSource, OrderStatus, Position
from streams import keys
from streams.tests.harness import drain, pending, xadd

pytestmark = pytest.mark.django_db


def execution(client_order_id: str, *, exec_id: str = "0000e0d8.65a1b2c3.01.01", **changes) -> m.OrderFilled:
    fields = {
        "client_order_id": client_order_id,
        "order_id": 41,
        "exec_id": exec_id,
        "account": "DU0000001",
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": Decimal("500"),
        "price": Decimal("1"),
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    fields.update(changes)
    return m.OrderFilled(**fields)


def test_a_fill_of_an_order_the_book_never_saw_is_dead_lettered_and_alerted_not_booked(
    redis_client, bridge, account, instrument
):
    forged = execution(str(uuid.uuid4()))
    xadd(redis_client, forged)
    drain(bridge)

    assert not Order.objects.exists() and not Fill.objects.exists()
    assert not Position.objects.filter(quantity__gt=0).exists()
    ((_, dead),) = redis_client.xrange(keys.dlq_stream())
    assert dead["code"] == "bridge.fill_unknown_order" and forged.exec_id in dead["reason"]
    assert pending(redis_client) == 0
    alert = Alert.objects.get(kind="bridge.fill_unknown_order")
    assert alert.severity == Alert.Severity.CRITICAL and alert.account == account
    assert forged.exec_id in alert.message and forged.client_order_id in alert.message
    assert alert.data["exec_id"] == forged.exec_id


def test_the_same_refused_fill_delivered_twice_raises_one_alert(redis_client, bridge, account, instrument):
    forged = execution(str(uuid.uuid4()))
    xadd(redis_client, forged)
    xadd(redis_client, forged)
    drain(bridge)

    assert redis_client.xlen(keys.dlq_stream()) == 2
    assert Alert.objects.filter(kind="bridge.fill_unknown_order").count() == 1


def test_a_fill_whose_client_order_id_is_not_a_uuid_is_refused_the_same_way(redis_client, bridge, account, instrument):
    xadd(redis_client, execution("not-a-uuid"))
    drain(bridge)

    ((_, dead),) = redis_client.xrange(keys.dlq_stream())
    assert dead["code"] == "bridge.fill_unknown_order" and not Fill.objects.exists()


def test_a_strategy_order_first_seen_in_order_accepted_is_recorded_and_its_fill_booked(
    redis_client, bridge, account, instrument
):
    """The direct path (a strategy XADDs ``order.place``): the worker's acceptance describes the order."""
    client_order_id = str(uuid.uuid4())
    xadd(
        redis_client,
        m.OrderAccepted(
            client_order_id=client_order_id,
            order_id=41,
            account=account.code,
            symbol=instrument.symbol,
            side="BUY",
            quantity=Decimal("5"),
            order_type="MKT",
        ),
    )
    xadd(redis_client, execution(client_order_id, quantity=Decimal("5"), price=Decimal("101.5")))
    drain(bridge)

    order = Order.objects.get(client_order_id=client_order_id)
    assert order.source == OrderSource.STRATEGY and order.ib_order_id == 41
    assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal("5"))
    assert Fill.objects.get(order=order).price == Decimal("101.5")
    assert redis_client.xlen(keys.dlq_stream()) == 0


def test_an_execution_of_an_order_placed_in_tws_by_hand_is_still_booked_as_external(
    redis_client, bridge, account, instrument
):
    xadd(redis_client, execution("", perm_id=90210, external=True, quantity=Decimal("4"), price=Decimal("99")))
    drain(bridge)

    order = Order.objects.get(perm_id=90210)
    assert order.source == OrderSource.EXTERNAL and Fill.objects.get(order=order).quantity == Decimal("4")
    assert redis_client.xlen(keys.dlq_stream()) == 0
