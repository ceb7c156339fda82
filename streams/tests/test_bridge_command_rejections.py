"""The bridge applies a refused modify or cancel (``order.rejected`` with action modify/cancel).

Through the real stream: BUY 200 modified to 100, the broker refuses the modify,
then fills 100 -> the order is PARTIALLY_FILLED (100 still live), not FILLED.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from accounts.models import OutboxMessage
from execution_worker import messages as m
from orders.models import OrderStatus
from orders.services import order_cancel, order_modify
from streams import relay
from streams.tests.harness import accepted_and_working, apply_events

pytestmark = pytest.mark.django_db


def fill(order, exec_id, quantity):
    return m.OrderFilled(
        client_order_id=str(order.client_order_id),
        order_id=7,
        exec_id=exec_id,
        account=order.account.code,
        symbol=order.instrument.symbol,
        side=order.side,
        quantity=Decimal(quantity),
        price=Decimal("100"),
        time="2026-11-21T15:00:00+00:00",
    )


def rejected(order, action, code):
    return m.OrderRejected(
        client_order_id=str(order.client_order_id), code=code, reason="refused by TWS", action=action, order_id=7
    )


def test_a_refused_modify_then_a_fill_leaves_the_order_partially_filled(redis_client, bridge, submit, trader):
    order = submit(quantity=Decimal("200"))
    relay.publish_pending()
    apply_events(redis_client, bridge, *accepted_and_working(order, "200"))
    order_modify(order=order, actor=trader, quantity=100, via="test")
    relay.publish_pending()
    refusal = rejected(order, "modify", "broker.105")
    apply_events(redis_client, bridge, refusal, fill(order, "e1", "100"))
    order.refresh_from_db()
    assert (order.status, order.quantity, order.filled_quantity) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal("200"),
        Decimal("100"),
    )
    assert order.pending_quantity is None
    assert order.events.get(kind="modify_rejected").data["code"] == "broker.105"
    assert OutboxMessage.objects.get(type="order.modify").acknowledged_at is not None
    # The same entry delivered again (a redelivery keeps its message id) is a no-op.
    apply_events(redis_client, bridge, refusal)
    assert order.events.filter(kind="modify_rejected").count() == 1


def test_a_refused_cancel_puts_the_order_back_to_submitted(redis_client, bridge, submit, trader):
    order = submit(quantity=Decimal("10"))
    relay.publish_pending()
    apply_events(redis_client, bridge, *accepted_and_working(order, "10"))
    order_cancel(order=order, actor=trader, via="test")
    apply_events(redis_client, bridge, rejected(order, "cancel", "broker.161"))
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    apply_events(redis_client, bridge, fill(order, f"e-{uuid.uuid4()}", "10"))
    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED
