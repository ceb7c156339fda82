"""Orders above the approval notional wait for a risk manager, who approves or refuses them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import AuditLog, OutboxMessage
from accounts.services import kill_switch_engage
from orders import exceptions as errors
from orders.exceptions import RiskLimitInvalid
from orders.models import OrderStatus
from orders.services import order_approval_refuse, order_approve, order_cancel, risk_limit_update
from orders.tests.helpers import submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def approval_limit(account, risk_manager):
    return risk_limit_update(
        risk_limit=account.risk_limit, actor=risk_manager, via="test", approval_above_notional="5000"
    )


def test_an_order_above_the_approval_notional_waits_and_sends_nothing(trader, account, instrument, approval_limit):
    small = submit(actor=trader, account=account, instrument=instrument, quantity=50)
    large = submit(actor=trader, account=account, instrument=instrument, quantity=51)
    assert (small.status, large.status) == (OrderStatus.NEW, OrderStatus.PENDING_APPROVAL)
    assert list(OutboxMessage.objects.filter(stream="commands").values_list("data__client_order_id", flat=True)) == [
        str(small.client_order_id)
    ]
    assert large.events.get().to_status == OrderStatus.PENDING_APPROVAL


def test_a_risk_manager_approves_it_and_the_command_is_queued(
    trader, risk_manager, account, instrument, approval_limit
):
    order = submit(actor=trader, account=account, instrument=instrument, quantity=60)
    order = order_approve(order=order, actor=risk_manager, via="test")
    assert order.status == OrderStatus.NEW
    command = OutboxMessage.objects.get(stream="commands")
    assert (command.type, command.data["client_order_id"]) == ("order.place", str(order.client_order_id))
    assert AuditLog.objects.filter(action="order.approve", actor=risk_manager).exists()
    assert list(order.events.values_list("kind", flat=True)) == ["submitted", "approved"]


def test_nobody_approves_their_own_order(risk_manager, account, instrument, approval_limit):
    order = submit(actor=risk_manager, account=account, instrument=instrument, quantity=60)
    with pytest.raises(errors.OrderTransitionRefused):
        order_approve(order=order, actor=risk_manager, via="test")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL


def test_a_trader_may_not_approve(trader, account, instrument, approval_limit):
    order = submit(actor=None, account=account, instrument=instrument, quantity=60)
    with pytest.raises(errors.PermissionRequired):
        order_approve(order=order, actor=trader, via="test")


def test_approval_is_refused_while_the_kill_switch_is_engaged(
    trader, risk_manager, account, instrument, approval_limit
):
    order = submit(actor=trader, account=account, instrument=instrument, quantity=60)
    kill_switch_engage(actor=risk_manager, reason="stop", via="test")
    with pytest.raises(errors.DeskHalted):
        order_approve(order=order, actor=risk_manager, via="test")


def test_a_refused_order_is_rejected_with_the_approval_code(trader, risk_manager, account, instrument, approval_limit):
    order = submit(actor=trader, account=account, instrument=instrument, quantity=60)
    order = order_approval_refuse(order=order, actor=risk_manager, reason="Too large today", via="test")
    assert (order.status, order.reject_code, order.reject_reason) == ("REJECTED", "approval.refused", "Too large today")
    with pytest.raises(errors.OrderTransitionRefused):
        order_approve(order=order, actor=risk_manager, via="test")
    assert not OutboxMessage.objects.filter(stream="commands").exists()


def test_a_waiting_order_may_be_withdrawn(trader, account, instrument, approval_limit):
    order = submit(actor=trader, account=account, instrument=instrument, quantity=60)
    assert order_cancel(order=order, actor=trader, via="test").status == OrderStatus.CANCELLED


def test_monitoring_policies_and_the_approval_threshold_are_audited_but_not_published(risk_manager, account):
    risk_limit_update(
        risk_limit=account.risk_limit,
        actor=risk_manager,
        via="test",
        stop_loss_pct="2.5",
        stale_order_action="cancel",
        approval_above_notional="",
    )
    audit = AuditLog.objects.get(action="risk_limit.update")
    assert (audit.after["stop_loss_pct"], audit.after["stale_order_action"]) == ("2.5", "cancel")
    published = OutboxMessage.objects.get(stream="risk").data
    assert "stop_loss_pct" not in published
    account.risk_limit.refresh_from_db()
    assert (account.risk_limit.stop_loss_pct, account.risk_limit.approval_above_notional) == (Decimal("2.5"), None)


@pytest.mark.parametrize(
    "changes",
    [
        {"stale_order_action": "explode"},
        {"max_order_quantity": ""},
        {"stale_order_seconds": "-5"},
        {"max_order_notional": "1e30"},
    ],
)
def test_a_policy_value_outside_its_field_is_refused(risk_manager, account, changes):
    with pytest.raises(RiskLimitInvalid):
        risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", **changes)
