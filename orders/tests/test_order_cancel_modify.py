"""Cancelling and modifying orders: local when the broker never saw them, else a command."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuditLog, OutboxMessage
from accounts.services import account_halt
from orders import exceptions as errors
from orders.models import Order, OrderStatus
from orders.services import order_cancel, order_modify
from orders.tests.factories import OrderFactory
from orders.tests.helpers import row_counts, submit

pytestmark = pytest.mark.django_db
D = Decimal


def publish_all():
    """What the relay does once it has XADDed the commands."""
    OutboxMessage.objects.filter(published_at__isnull=True).update(published_at=timezone.now())


def test_an_order_the_broker_never_saw_is_cancelled_locally_and_its_command_withdrawn(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument)
    order = order_cancel(order=order, actor=trader, reason="fat finger", via="test")
    assert order.status == OrderStatus.CANCELLED
    assert order.completed_at is not None
    assert not OutboxMessage.objects.exists()
    event = order.events.last()
    assert (event.kind, event.from_status, event.to_status, event.detail) == (
        "cancelled",
        "NEW",
        "CANCELLED",
        "fat finger",
    )
    assert AuditLog.objects.filter(action="order.cancel", actor=trader).count() == 1


def test_a_sent_order_is_cancel_requested_with_a_cancel_command(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument)
    publish_all()
    order = order_cancel(order=order, actor=trader, via="test")
    assert order.status == OrderStatus.CANCEL_REQUESTED
    command = OutboxMessage.objects.get(published_at__isnull=True)
    assert (command.type, command.data) == (
        "order.cancel",
        {"client_order_id": str(order.client_order_id), "reason": ""},
    )


@pytest.mark.parametrize(
    "status", [OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.SUBMIT_UNKNOWN, OrderStatus.SUBMITTING]
)
def test_a_working_order_is_cancel_requested(trader, account, instrument, status):
    order = OrderFactory(account=account, instrument=instrument, status=status)
    assert order_cancel(order=order, actor=trader, via="test").status == OrderStatus.CANCEL_REQUESTED
    assert OutboxMessage.objects.get().type == "order.cancel"


def test_cancelling_twice_sends_one_cancel(trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    order_cancel(order=order, actor=trader, via="test")
    order_cancel(order=order, actor=trader, via="test")
    assert OutboxMessage.objects.filter(type="order.cancel").count() == 1


@pytest.mark.parametrize(
    "status", [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.INACTIVE]
)
def test_cancel_of_a_final_order_is_refused_and_writes_nothing(trader, account, instrument, status):
    order = OrderFactory(account=account, instrument=instrument, status=status)
    before = row_counts()
    with pytest.raises(errors.OrderNotCancellable) as refused:
        order_cancel(order=order, actor=trader, via="test")
    assert refused.value.http_status == 409
    assert row_counts() == before


def test_an_order_awaiting_approval_is_cancelled_locally(trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.PENDING_APPROVAL)
    assert order_cancel(order=order, actor=trader, via="test").status == OrderStatus.CANCELLED
    assert not OutboxMessage.objects.exists()


def test_a_viewer_or_a_non_member_may_not_cancel(viewer, account, other_account, instrument):
    mine = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    theirs = OrderFactory(account=other_account, instrument=instrument, status=OrderStatus.SUBMITTED)
    with pytest.raises(errors.PermissionRequired):
        order_cancel(order=mine, actor=viewer, via="test")
    with pytest.raises(errors.AccountNotMember):
        order_cancel(order=theirs, actor=viewer, via="test")
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.SUBMITTED}


def test_cancel_is_allowed_while_the_account_is_halted(trader, risk_manager, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    account_halt(account=account, actor=risk_manager, reason="stop", via="test")
    assert order_cancel(order=order, actor=trader, via="test").status == OrderStatus.CANCEL_REQUESTED


def test_modifying_a_sent_order_sends_the_changed_keys(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument)
    publish_all()
    order = order_modify(order=order, actor=trader, quantity=20, limit_price="101.00", via="test")
    order.refresh_from_db()
    # The broker works 10 until it confirms the new quantity; the price applies, the prior one kept.
    assert (order.quantity, order.limit_price, order.status) == (D("10"), D("101"), OrderStatus.NEW)
    assert (order.pending_quantity, order.modify_prior) == (D("20"), {"limit_price": "100"})
    assert order.modify_requested_at is not None
    command = OutboxMessage.objects.get(published_at__isnull=True)
    assert (command.type, command.data) == (
        "order.modify",
        {"client_order_id": str(order.client_order_id), "quantity": "20", "limit_price": "101"},
    )
    event = order.events.last()
    assert (event.kind, event.data["quantity"]) == ("modify_requested", "20")
    audit = AuditLog.objects.get(action="order.modify")
    assert (audit.before["quantity"], audit.after["quantity"], audit.after["pending_quantity"]) == ("10", "10", "20")


def test_modifying_an_unsent_order_rewrites_its_place_command(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument)
    order_modify(order=order, actor=trader, limit_price="99.50", via="test")
    command = OutboxMessage.objects.get()
    assert (command.type, command.data["limit_price"]) == ("order.place", "99.5")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({}, errors.OrderModifyEmpty),
        ({"quantity": 0}, errors.OrderQuantityNotPositive),
        ({"quantity": 30}, errors.OrderQuantityNotPositive),  # 40 already filled
        ({"limit_price": "100.001"}, errors.OrderPriceOffTick),
        ({"stop_price": "99"}, errors.OrderPriceNotAllowed),
        ({"quantity": 5000}, errors.RiskMaxQuantity),
        ({"limit_price": "120.00"}, errors.RiskPriceCollar),
    ],
)
def test_a_bad_modification_is_refused_and_changes_nothing(trader, account, instrument, changes, error):
    order = OrderFactory(
        account=account,
        instrument=instrument,
        status=OrderStatus.PARTIALLY_FILLED,
        quantity=D("100"),
        filled_quantity=D("40"),
    )
    before = row_counts()
    with pytest.raises(error):
        order_modify(order=order, actor=trader, via="test", **changes)
    assert row_counts() == before
    order.refresh_from_db()
    assert (order.quantity, order.limit_price) == (D("100"), D("100"))


@pytest.mark.parametrize("status", [OrderStatus.FILLED, OrderStatus.CANCEL_REQUESTED, OrderStatus.SUBMIT_UNKNOWN])
def test_an_order_that_is_final_or_being_cancelled_cannot_be_modified(trader, account, instrument, status):
    order = OrderFactory(account=account, instrument=instrument, status=status)
    with pytest.raises(errors.OrderNotModifiable):
        order_modify(order=order, actor=trader, quantity=5, via="test")


def test_a_modification_on_a_halted_account_is_refused(trader, risk_manager, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    account_halt(account=account, actor=risk_manager, reason="stop", via="test")
    with pytest.raises(errors.AccountHalted):
        order_modify(order=order, actor=trader, quantity=5, via="test")


def test_raising_a_quantity_counts_against_the_position_limit_without_counting_itself_twice(
    trader, risk_manager, account, instrument
):
    from orders.services import risk_limit_update

    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", max_position=100)
    order = submit(actor=trader, account=account, instrument=instrument, quantity=60)
    assert order_modify(order=order, actor=trader, quantity=100, via="test").quantity == D("100")
    with pytest.raises(errors.RiskMaxPosition):
        order_modify(order=order, actor=trader, quantity=101, via="test")
