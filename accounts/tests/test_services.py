"""Account services: audit rows in the change's transaction, halts, the kill switch, values, alerts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounts import exceptions as errors
from accounts.models import (
    AccountMembership,
    AccountValue,
    Alert,
    AuditLog,
    BrokerAccount,
    KillSwitch,
    OutboxMessage,
    User,
)
from accounts.selectors import account_for_member, user_is_member
from accounts.services import (
    account_halt,
    account_resume,
    account_values_update,
    alert_acknowledge,
    alert_raise,
    alert_resolve,
    audit_record,
    kill_switch_engage,
    kill_switch_release,
    outbox_enqueue,
)
from orders.services import risk_limit_update, risk_limits_publish
from orders.tests.factories import InstrumentFactory
from tradeconsole.request_id import _request_id

pytestmark = pytest.mark.django_db


def test_an_audit_row_carries_the_request_id_and_plain_json(trader, account):
    token = _request_id.set("req-123")
    try:
        row = audit_record(
            actor=trader,
            action="test.change",
            obj=account,
            account=account,
            before={"limit": Decimal("1.50")},
            after={"at": timezone.now()},
            via="api",
        )
    finally:
        _request_id.reset(token)
    row.refresh_from_db()
    assert (row.request_id, row.object_type, row.object_id, row.via) == (
        "req-123",
        "accounts.brokeraccount",
        str(account.pk),
        "api",
    )
    assert row.before == {"limit": "1.50"}
    assert isinstance(row.after["at"], str)


def test_a_failure_after_the_change_rolls_back_the_audit_row_too(risk_manager, account):
    with pytest.raises(RuntimeError), transaction.atomic():
        account_halt(account=account, actor=risk_manager, reason="test", via="test")
        raise RuntimeError("the caller's transaction fails afterwards")
    account.refresh_from_db()
    assert account.trading_enabled
    assert not AuditLog.objects.exists()
    assert not OutboxMessage.objects.exists()


def test_an_outbox_message_stores_plain_json(db):
    message = outbox_enqueue(type="broker.refresh", data={"what": ["positions"], "n": Decimal("2")})
    message.refresh_from_db()
    assert (message.stream, message.type, message.data) == (
        "commands",
        "broker.refresh",
        {"what": ["positions"], "n": "2"},
    )


def test_halting_an_account_stops_it_and_tells_the_worker(risk_manager, account):
    account_halt(account=account, actor=risk_manager, reason="Margin call", cancel_working=True, via="admin")
    account.refresh_from_db()
    assert (account.trading_enabled, account.halted_reason, account.halted_by) == (False, "Margin call", risk_manager)
    command = OutboxMessage.objects.get()
    assert command.type == "trading.halt"
    assert command.data == {"account": "DU0000001", "mode": "cancel_all"}
    audit = AuditLog.objects.get()
    assert (audit.action, audit.before["trading_enabled"], audit.after["trading_enabled"]) == (
        "account.halt",
        True,
        False,
    )


def test_resuming_a_halted_account_tells_the_worker_and_resuming_again_does_nothing(risk_manager, account):
    account_halt(account=account, actor=risk_manager, reason="x", via="test")
    account_resume(account=account, actor=risk_manager, via="test")
    account_resume(account=account, actor=risk_manager, via="test")
    account.refresh_from_db()
    assert (account.trading_enabled, account.halted_reason, account.halted_at) == (True, "", None)
    assert list(OutboxMessage.objects.values_list("type", "data")) == [
        ("trading.halt", {"account": "DU0000001", "mode": "halt"}),
        ("trading.resume", {"account": "DU0000001"}),
    ]


def test_a_trader_may_not_halt_and_an_outsider_may_not_either(trader, risk_manager, account, other_account):
    with pytest.raises(errors.PermissionRequired):
        account_halt(account=account, actor=trader, reason="x", via="test")
    with pytest.raises(errors.AccountNotMember):
        account_halt(account=other_account, actor=risk_manager, reason="x", via="test")
    assert BrokerAccount.objects.filter(trading_enabled=False).count() == 0
    assert not AuditLog.objects.exists()


def test_an_account_found_among_the_users_is_not_checked_again_and_another_is_not_found(
    trader, account, other_account, django_assert_num_queries
):
    assert account_for_member(trader, other_account.code) is None
    assert account_for_member(trader, account.code) == account

    with django_assert_num_queries(0):
        assert user_is_member(trader, account)
    with django_assert_num_queries(1):
        assert not user_is_member(trader, other_account)
    AccountMembership.objects.filter(user=trader).delete()
    assert not user_is_member(User.objects.get(pk=trader.pk), account)  # the next request's user object


def test_the_kill_switch_halts_every_account_and_cancels_working_orders_by_default(risk_manager):
    switch = kill_switch_engage(actor=risk_manager, reason="Runaway", via="test")
    assert (switch.engaged, switch.reason, switch.changed_by) == (True, "Runaway", risk_manager)
    assert OutboxMessage.objects.get().data == {"mode": "cancel_all"}
    kill_switch_release(actor=risk_manager, via="test")
    kill_switch_release(actor=risk_manager, via="test")
    assert not KillSwitch.objects.get(pk=1).engaged
    assert list(OutboxMessage.objects.values_list("type", "data")) == [
        ("trading.halt", {"mode": "cancel_all"}),
        ("trading.resume", {}),
    ]
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "kill_switch.engage",
        "kill_switch.release",
    ]


def test_the_kill_switch_may_halt_without_cancelling(risk_manager):
    kill_switch_engage(actor=risk_manager, reason="Pause", cancel_working=False, via="test")
    assert OutboxMessage.objects.get().data == {"mode": "halt"}


def test_a_trader_may_not_use_the_kill_switch(trader):
    with pytest.raises(errors.PermissionRequired):
        kill_switch_engage(actor=trader, reason="x", via="test")
    assert not KillSwitch.objects.filter(engaged=True).exists()


def test_account_values_move_forward_only(account):
    now = timezone.now()
    assert (
        account_values_update(
            account=account,
            values={"NetLiquidation": "100000.00", "BuyingPower": "4e5"},
            currency="USD",
            reported_at=now,
        )
        == 2
    )
    assert (
        account_values_update(
            account=account,
            values={"NetLiquidation": "99000.00"},
            currency="USD",
            reported_at=now - timedelta(seconds=5),
        )
        == 0
    )
    assert (
        account_values_update(
            account=account,
            values={"NetLiquidation": "101000.00"},
            currency="USD",
            reported_at=now + timedelta(seconds=5),
        )
        == 1
    )
    assert AccountValue.objects.get(tag="NetLiquidation").value == "101000.00"


def test_an_oversized_account_value_is_refused(account):
    with pytest.raises(errors.AccountValueInvalid):
        account_values_update(account=account, values={"Tag": "9" * 65}, reported_at=timezone.now())


def test_raising_an_open_alert_again_returns_the_open_one(account):
    first = alert_raise(key="gateway.disconnected", kind="gateway", message="TWS is gone", severity="critical")
    again = alert_raise(key="gateway.disconnected", kind="gateway", message="TWS is still gone")
    assert first.pk == again.pk
    assert Alert.objects.count() == 1


def test_an_alert_is_acknowledged_then_resolved_and_may_be_raised_anew(risk_manager, account):
    alert = alert_raise(key="position.mismatch:DU0000001:AAPL", kind="position", message="Mismatch", account=account)
    alert_acknowledge(alert=alert, actor=risk_manager, via="test")
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by) == ("acknowledged", risk_manager)
    assert alert_resolve(key=alert.key).status == "resolved"
    assert alert_resolve(key=alert.key) is None
    with pytest.raises(errors.AlertAlreadyResolved):
        alert_acknowledge(alert=alert, actor=risk_manager, via="test")
    fresh = alert_raise(key=alert.key, kind="position", message="Mismatch again", account=account)
    assert fresh.pk != alert.pk


def test_a_viewer_may_not_acknowledge_alerts(viewer):
    alert = alert_raise(key="k", kind="k", message="m")
    with pytest.raises(errors.PermissionRequired):
        alert_acknowledge(alert=alert, actor=viewer, via="test")


def test_risk_limits_are_published_as_json_for_the_worker(risk_manager, account):
    aapl = InstrumentFactory(symbol="AAPL")
    msft = InstrumentFactory(symbol="MSFT")
    risk_limit_update(
        risk_limit=account.risk_limit,
        actor=risk_manager,
        via="test",
        max_order_quantity="500",
        orders_per_minute=30,
        allowed_instruments=[msft, aapl],
    )
    message = OutboxMessage.objects.get()
    assert (message.stream, message.type) == ("risk", "risk.limits")
    assert message.data == {
        "account": "DU0000001",
        "max_order_quantity": "500",
        "max_order_notional": "100000",
        "max_position": "5000",
        "max_daily_loss": "10000",
        "price_collar_pct": "5",
        "orders_per_minute": 30,
        "allowed_symbols": ["AAPL", "MSFT"],
    }
    audit = AuditLog.objects.get(action="risk_limit.update")
    assert (audit.before["max_order_quantity"], audit.after["max_order_quantity"]) == ("1000", "500")
    assert risk_limits_publish(account=account).data == message.data


def test_an_account_without_limits_publishes_the_defaults(db):
    bare = BrokerAccount.objects.create(code="DU0000009", name="Bare")
    assert risk_limits_publish(account=bare).data["max_order_quantity"] == "1000"


@pytest.mark.parametrize(
    "changes", [{"max_position": -1}, {"orders_per_minute": "1.5"}, {"colour": "red"}, {"max_daily_loss": "lots"}]
)
def test_a_bad_risk_limit_is_refused_and_nothing_is_published(risk_manager, account, changes):
    from orders.exceptions import RiskLimitInvalid

    with pytest.raises(RiskLimitInvalid):
        risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", **changes)
    assert not OutboxMessage.objects.exists()


def test_a_trader_may_not_change_risk_limits(trader, account):
    with pytest.raises(errors.PermissionRequired):
        risk_limit_update(risk_limit=account.risk_limit, actor=trader, via="test", max_position=1)
