"""A modify is applied only when the broker confirms it, and a refused modify or cancel is undone.

Review finding 4: an order modified 200 → 100 whose modify the broker refused, then filled 100,
must stay PARTIALLY_FILLED (100 are still live), never FILLED.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Alert, AuditLog, OutboxMessage
from orders.models import OrderEvent, OrderStatus
from orders.services import (
    fill_record,
    order_apply_broker_status,
    order_cancel,
    order_mark_accepted,
    order_mark_command_rejected,
    order_modify,
)
from orders.tests.helpers import submit
from orders.transitions import can_revert_cancel, can_transition

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def working(trader, account, instrument):
    """BUY 200 @ 100 entered, published, accepted by the broker and reported Submitted 0/200."""
    order = submit(actor=trader, account=account, instrument=instrument, quantity=D("200"))
    OutboxMessage.objects.update(published_at=timezone.now())
    order_mark_accepted(client_order_id=order.client_order_id, order_id=7, message_id=uuid.uuid4())
    broker_status(order, "Submitted", 0, 200)
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    return order


def broker_status(order, word, filled, remaining, avg=None):
    return order_apply_broker_status(
        client_order_id=order.client_order_id,
        status=word,
        filled=D(filled),
        remaining=D(remaining),
        avg_fill_price=avg if avg is not None else (D("100") if filled else None),
        order_id=7,
        message_id=uuid.uuid4(),
    )


def fill(order, exec_id, quantity, price="100"):
    return fill_record(
        exec_id=exec_id,
        account=order.account,
        instrument=order.instrument,
        side=order.side,
        quantity=D(quantity),
        price=D(price),
        executed_at=timezone.now(),
        order=order,
        message_id=uuid.uuid4(),
    )


def refuse(order, action, code="broker.105", reason="Order being modified does not match", message_id=None):
    return order_mark_command_rejected(
        client_order_id=order.client_order_id,
        action=action,
        code=code,
        reason=reason,
        message_id=message_id or uuid.uuid4(),
    )


def fresh(order):
    order.refresh_from_db()
    return order


# --- finding 4: modify refused -------------------------------------------------------------------


def test_a_modify_down_refused_then_filled_leaves_the_order_partially_filled(trader, working):
    order_modify(order=working, actor=trader, quantity=100, via="test")
    order = fresh(working)
    assert (order.quantity, order.pending_quantity) == (D("200"), D("100"))

    refuse(order, "modify")
    order = fresh(order)
    assert (order.quantity, order.pending_quantity, order.modify_requested_at) == (D("200"), None, None)
    event = order.events.get(kind="modify_rejected")
    assert (event.applied, event.data["code"], event.data["cleared"]) == (False, "broker.105", {"quantity": "100"})
    assert "broker.105" in event.detail
    assert AuditLog.objects.filter(action="order.modify_rejected", object_id=str(order.pk)).exists()

    fill(order, "e1", "100")
    order = fresh(order)
    assert (order.status, order.filled_quantity, order.quantity) == (OrderStatus.PARTIALLY_FILLED, D("100"), D("200"))
    assert order.completed_at is None
    # Still working at the broker: the desk can still cancel it.
    assert order_cancel(order=order, actor=trader, via="test").status == OrderStatus.CANCEL_REQUESTED


def test_a_fill_before_the_modify_is_confirmed_is_measured_against_the_quantity_the_broker_works(trader, working):
    order_modify(order=working, actor=trader, quantity=100, via="test")
    fill(working, "e1", "100")
    order = fresh(working)
    assert (order.status, order.quantity, order.pending_quantity) == (OrderStatus.PARTIALLY_FILLED, D("200"), D("100"))
    refuse(order, "modify")
    order = fresh(order)
    assert (order.status, order.quantity, order.pending_quantity) == (OrderStatus.PARTIALLY_FILLED, D("200"), None)


def test_a_redelivered_modify_rejection_changes_nothing(trader, working):
    order_modify(order=working, actor=trader, quantity=100, via="test")
    message_id = uuid.uuid4()
    refuse(working, "modify", message_id=message_id)
    # A modify asked after the first refusal must survive the redelivery of that refusal.
    order_modify(order=working, actor=trader, quantity=150, via="test")
    events, audits = OrderEvent.objects.count(), AuditLog.objects.count()
    refuse(working, "modify", message_id=message_id)
    order = fresh(working)
    assert (OrderEvent.objects.count(), AuditLog.objects.count()) == (events, audits)
    assert (order.quantity, order.pending_quantity) == (D("200"), D("150"))


# --- modify confirmed ------------------------------------------------------------------------------


def test_a_status_showing_the_new_total_applies_the_modify_and_the_order_then_fills(trader, working):
    order_modify(order=working, actor=trader, quantity=100, limit_price="100.50", via="test")
    order = fresh(working)
    assert (order.quantity, order.pending_quantity, order.limit_price) == (D("200"), D("100"), D("100.5"))
    assert order.modify_prior == {"limit_price": "100"}
    broker_status(working, "Submitted", 0, 100)
    order = fresh(working)
    assert (order.quantity, order.limit_price) == (D("100"), D("100.5"))
    assert (order.pending_quantity, order.modify_prior, order.modify_requested_at) == (None, {}, None)
    event = order.events.filter(kind="order.status").last()
    assert event.data["modify_confirmed"] == {"quantity": "100", "limit_price": "100.5"}
    assert AuditLog.objects.filter(action="order.modify_confirmed", object_id=str(order.pk)).exists()
    fill(order, "e1", "100")
    assert fresh(order).status == OrderStatus.FILLED


def test_a_status_still_showing_the_old_total_leaves_the_modify_pending(trader, working):
    order_modify(order=working, actor=trader, quantity=100, via="test")
    broker_status(working, "Submitted", 50, 150)
    order = fresh(working)
    assert (order.status, order.quantity, order.pending_quantity) == (OrderStatus.PARTIALLY_FILLED, D("200"), D("100"))


def test_a_filled_status_at_the_new_quantity_confirms_the_modify_and_ends_the_order(trader, working):
    order_modify(order=working, actor=trader, quantity=100, via="test")
    fill(working, "e1", "100")
    assert fresh(working).status == OrderStatus.PARTIALLY_FILLED
    broker_status(working, "Filled", 100, 0)
    order = fresh(working)
    assert (order.status, order.quantity, order.pending_quantity) == (OrderStatus.FILLED, D("100"), None)


def test_fills_beyond_the_old_quantity_within_a_pending_increase_prove_the_increase(trader, working):
    order_modify(order=working, actor=trader, quantity=300, via="test")
    fill(working, "e1", "250")
    order = fresh(working)
    assert (order.status, order.quantity, order.pending_quantity) == (OrderStatus.PARTIALLY_FILLED, D("300"), None)
    assert order.events.get(kind="order.filled").data["modify_confirmed"] == {"quantity": "300"}


def test_a_price_only_modify_applies_at_once_and_a_refusal_restores_the_confirmed_price(trader, working):
    order_modify(order=working, actor=trader, limit_price="99.50", via="test")
    order = fresh(working)
    assert (order.limit_price, order.modify_prior) == (D("99.5"), {"limit_price": "100"})
    order_modify(order=order, actor=trader, limit_price="99.00", via="test")
    # The prior price stays the one the broker last confirmed, not the unanswered 99.50.
    assert fresh(order).modify_prior == {"limit_price": "100"}
    refuse(order, "modify", code="risk.price_collar", reason="too far from the last price")
    order = fresh(order)
    assert (order.limit_price, order.modify_prior, order.modify_requested_at) == (D("100"), {}, None)
    event = order.events.get(kind="modify_rejected")
    assert (event.data["restored"], event.data["cleared"]) == ({"limit_price": "100"}, {})


def test_a_second_modify_is_measured_against_the_pending_quantity(trader, working):
    order_modify(order=working, actor=trader, quantity=100, via="test")
    order_modify(order=working, actor=trader, quantity=100, via="test")
    assert OutboxMessage.objects.filter(type="order.modify").count() == 1
    order_modify(order=working, actor=trader, limit_price="100.20", via="test")
    order = fresh(working)
    assert (order.pending_quantity, order.limit_price) == (D("100"), D("100.2"))
    assert OutboxMessage.objects.filter(type="order.modify").count() == 2


def test_an_order_that_ends_forgets_its_pending_modify(trader, working):
    order_modify(order=working, actor=trader, quantity=100, via="test")
    broker_status(working, "Cancelled", 0, 200)
    order = fresh(working)
    assert (order.status, order.quantity, order.pending_quantity) == (OrderStatus.CANCELLED, D("200"), None)


def test_modifying_an_order_the_broker_never_saw_changes_it_at_once(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument, quantity=D("200"))
    order_modify(order=order, actor=trader, quantity=100, via="test")
    order = fresh(order)
    assert (order.quantity, order.pending_quantity) == (D("100"), None)
    assert OutboxMessage.objects.get().data["quantity"] == "100"


# --- refused cancel --------------------------------------------------------------------------------


def test_a_refused_cancel_puts_the_order_back_to_work_and_later_fills_apply(trader, working):
    order_cancel(order=working, actor=trader, via="test")
    message_id = uuid.uuid4()
    refuse(
        working,
        "cancel",
        code="broker.161",
        reason="Cancel attempted when order is not cancellable",
        message_id=message_id,
    )
    order = fresh(working)
    assert order.status == OrderStatus.SUBMITTED
    event = order.events.get(kind="cancel_rejected")
    assert (event.from_status, event.to_status, event.applied) == ("CANCEL_REQUESTED", "SUBMITTED", False)
    alert = Alert.objects.get(key=f"order.cancel_refused:{order.client_order_id}")
    assert alert.severity == Alert.Severity.WARNING

    events = OrderEvent.objects.count()
    refuse(working, "cancel", code="broker.161", message_id=message_id)
    assert OrderEvent.objects.count() == events

    fill(order, "e1", "50")
    assert fresh(order).status == OrderStatus.PARTIALLY_FILLED
    broker_status(order, "Filled", 200, 0)
    assert fresh(order).status == OrderStatus.FILLED


def test_a_refused_cancel_of_a_partly_filled_order_returns_to_partially_filled(trader, working):
    fill(working, "e1", "50")
    order_cancel(order=fresh(working), actor=trader, via="test")
    refuse(working, "cancel", code="broker.10148")
    assert fresh(working).status == OrderStatus.PARTIALLY_FILLED


def test_a_refused_cancel_of_an_order_already_ended_keeps_its_state(trader, working):
    order_cancel(order=working, actor=trader, via="test")
    broker_status(working, "Cancelled", 0, 200)
    refuse(working, "cancel", code="broker.10148")
    order = fresh(working)
    assert order.status == OrderStatus.CANCELLED
    assert order.events.filter(kind="cancel_rejected", applied=False).count() == 1
    assert not Alert.objects.filter(key=f"order.cancel_refused:{order.client_order_id}").exists()


def test_a_refused_place_still_rejects_the_order(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument)
    refuse(order, "place", code="risk.max_notional", reason="too big")
    order = fresh(order)
    assert (order.status, order.reject_code) == (OrderStatus.REJECTED, "risk.max_notional")


def test_only_a_refused_cancel_may_move_an_order_back_from_cancel_requested():
    assert can_revert_cancel(OrderStatus.CANCEL_REQUESTED, OrderStatus.SUBMITTED)
    assert can_revert_cancel(OrderStatus.CANCEL_REQUESTED, OrderStatus.PARTIALLY_FILLED)
    assert not can_revert_cancel(OrderStatus.CANCEL_REQUESTED, OrderStatus.FILLED)
    assert not can_revert_cancel(OrderStatus.SUBMITTED, OrderStatus.NEW)
    assert not can_revert_cancel(OrderStatus.CANCEL_REQUESTED, "NOPE")
    # The table itself stays forward-only: a late Submitted never undoes a cancel request.
    assert not can_transition(OrderStatus.CANCEL_REQUESTED, OrderStatus.SUBMITTED)
