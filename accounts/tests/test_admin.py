"""The accounts admin: scoping, halt/resume and kill switch through services, read-only audit, desk summary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import services
from accounts.models import Alert, AuditLog, BrokerAccount, KillSwitch, OutboxMessage, Role
from accounts.tests.factories import AlertFactory, UserFactory
from orders import services as order_services

pytestmark = pytest.mark.django_db

ACCOUNTS_URL = reverse("admin:accounts_brokeraccount_changelist")
KILL_SWITCH_URL = reverse("admin:accounts_killswitch_changelist")


@pytest.fixture
def other_trader(other_account):
    return UserFactory(username="other-trader", roles=[Role.TRADER], accounts=[other_account])


def halt(client, account, **extra):
    data = {"action": "halt_trading", "_selected_action": [account.pk], **extra}
    return client.post(ACCOUNTS_URL, data)


# --- scoping ------------------------------------------------------------------------------------


def test_a_trader_lists_only_their_accounts(client, trader, account, other_account):
    client.force_login(trader)
    response = client.get(ACCOUNTS_URL)
    assert list(response.context["cl"].result_list) == [account]
    assert other_account.code not in response.content.decode()


def test_a_trader_cannot_open_another_account(client, trader, other_account):
    client.force_login(trader)
    response = client.get(reverse("admin:accounts_brokeraccount_change", args=[other_account.pk]))
    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_a_superuser_lists_every_account(client, admin_user, account, other_account):
    client.force_login(admin_user)
    assert list(client.get(ACCOUNTS_URL).context["cl"].result_list) == [account, other_account]


# --- halt and resume -------------------------------------------------------------------------------


def test_the_halt_action_first_asks_for_a_reason(client, risk_manager, account):
    client.force_login(risk_manager)
    response = halt(client, account)
    assert response.status_code == 200
    assert "reason" in response.context["form"].fields
    account.refresh_from_db()
    assert account.trading_enabled


def test_the_halt_action_halts_through_the_service(client, risk_manager, account):
    client.force_login(risk_manager)
    response = halt(client, account, apply="1", reason="Desk review", cancel_working="on")
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.trading_enabled, account.halted_reason, account.halted_by) == (False, "Desk review", risk_manager)
    audit = AuditLog.objects.get(action="account.halt")
    assert (audit.actor, audit.account, audit.via) == (risk_manager, account, "admin")
    command = OutboxMessage.objects.get(type="trading.halt")
    assert command.data == {"account": account.code, "mode": "cancel_all"}


def test_the_resume_action_resumes_through_the_service(client, risk_manager, account):
    services.account_halt(account=account, actor=risk_manager, reason="Test", via="test")
    client.force_login(risk_manager)
    client.post(ACCOUNTS_URL, {"action": "resume_trading", "_selected_action": [account.pk]})
    account.refresh_from_db()
    assert account.trading_enabled and account.halted_reason == ""
    assert AuditLog.objects.filter(action="account.resume", account=account, via="admin").exists()
    assert OutboxMessage.objects.filter(type="trading.resume").exists()


def test_a_trader_is_not_offered_halt_or_resume(client, trader, account):
    client.force_login(trader)
    page = client.get(ACCOUNTS_URL).content.decode()
    assert "halt_trading" not in page and "resume_trading" not in page
    halt(client, account, apply="1", reason="Not allowed")
    account.refresh_from_db()
    assert account.trading_enabled
    assert not AuditLog.objects.filter(action="account.halt").exists()


def test_a_risk_manager_cannot_halt_an_account_they_are_not_a_member_of(client, risk_manager, other_account):
    client.force_login(risk_manager)
    halt(client, other_account, apply="1", reason="Not mine")
    other_account.refresh_from_db()
    assert other_account.trading_enabled


# --- the kill switch ------------------------------------------------------------------------------------


def test_the_kill_switch_is_engaged_and_released_through_the_services(client, risk_manager):
    client.force_login(risk_manager)
    response = client.post(KILL_SWITCH_URL, {"operation": "engage", "reason": "Market halt", "cancel_working": "on"})
    assert response.status_code == 302
    switch = KillSwitch.objects.get(pk=1)
    assert (switch.engaged, switch.reason, switch.changed_by) == (True, "Market halt", risk_manager)
    assert AuditLog.objects.filter(action="kill_switch.engage", actor=risk_manager, via="admin").exists()
    assert OutboxMessage.objects.get(type="trading.halt").data == {"mode": "cancel_all"}
    assert "ENGAGED" in client.get(reverse("admin:index")).content.decode()

    client.post(KILL_SWITCH_URL, {"operation": "release"})
    switch.refresh_from_db()
    assert not switch.engaged
    assert AuditLog.objects.filter(action="kill_switch.release", via="admin").exists()


def test_the_kill_switch_page_says_when_it_last_changed_in_one_sentence(client, risk_manager):
    client.force_login(risk_manager)
    client.post(KILL_SWITCH_URL, {"operation": "engage", "reason": "Market halt", "cancel_working": "on"})
    client.post(KILL_SWITCH_URL, {"operation": "release", "reason": "Market open again"})

    page = client.get(KILL_SWITCH_URL).content.decode()

    state = page[page.index('id="kill-switch-state"') : page.index("</p>", page.index('id="kill-switch-state"'))]
    assert f"Last change: {risk_manager.username}, " in state and ".." not in state
    assert "Market open again" in state


def test_engaging_the_kill_switch_needs_a_reason(client, risk_manager):
    client.force_login(risk_manager)
    response = client.post(KILL_SWITCH_URL, {"operation": "engage", "reason": ""})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert not KillSwitch.objects.filter(engaged=True).exists()


def test_a_trader_sees_the_kill_switch_but_cannot_engage_it(client, trader):
    client.force_login(trader)
    page = client.get(KILL_SWITCH_URL)
    assert page.status_code == 200 and "Engage the kill switch" not in page.content.decode()
    assert client.post(KILL_SWITCH_URL, {"operation": "engage", "reason": "No"}).status_code == 403
    assert not KillSwitch.objects.filter(engaged=True).exists()


# --- alerts ------------------------------------------------------------------------------------------------


def test_alerts_are_acknowledged_and_resolved_through_the_services(client, risk_manager, account):
    alert = AlertFactory(account=account)
    client.force_login(risk_manager)
    url = reverse("admin:accounts_alert_changelist")
    client.post(url, {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == Alert.Status.ACKNOWLEDGED and alert.acknowledged_by == risk_manager
    client.post(url, {"action": "resolve", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.status == Alert.Status.RESOLVED
    assert AuditLog.objects.filter(action__in=["alert.acknowledge", "alert.resolve"], via="admin").count() == 2


def test_a_trader_sees_desk_wide_alerts_and_their_accounts_alerts_only(client, trader, account, other_account):
    desk = AlertFactory(key="gateway.disconnected", message="Gateway down")
    own = AlertFactory(account=account, message="Own account")
    AlertFactory(account=other_account, message="Other account")
    client.force_login(trader)
    shown = set(client.get(reverse("admin:accounts_alert_changelist")).context["cl"].result_list)
    assert shown == {desk, own}


# --- the audit log ----------------------------------------------------------------------------------------


def test_the_audit_log_is_read_only_even_for_a_superuser(client, admin_user, account):
    services.account_halt(account=account, actor=admin_user, reason="Audit me", via="test")
    row = AuditLog.objects.get(action="account.halt")
    client.force_login(admin_user)
    assert client.get(reverse("admin:accounts_auditlog_add")).status_code == 403
    change_url = reverse("admin:accounts_auditlog_change", args=[row.pk])
    page = client.get(change_url)
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert client.post(change_url, {"action": "forged"}).status_code == 403
    assert client.post(reverse("admin:accounts_auditlog_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    row.refresh_from_db()
    assert row.action == "account.halt"


def test_a_trader_reads_only_the_audit_rows_of_their_accounts(client, trader, other_trader, account, other_account,
                                                               instrument):  # fmt: skip
    for user, acct in ((trader, account), (other_trader, other_account)):
        order_services.order_submit(
            actor=user, account=acct, instrument=instrument, side="BUY", quantity=1, order_type="LMT",
            limit_price=Decimal("100.00"), source="api", via="test",
        )  # fmt: skip
    client.force_login(trader)
    rows = client.get(reverse("admin:accounts_auditlog_changelist")).context["cl"].result_list
    assert {row.account for row in rows} == {account}


# --- the desk summary -------------------------------------------------------------------------------------------


def test_the_index_shows_the_desk_summary_of_the_users_accounts(client, trader, other_trader, account, other_account,
                                                                 instrument):  # fmt: skip
    for user, acct, quantity in ((trader, account, 1), (trader, account, 2), (other_trader, other_account, 3)):
        order_services.order_submit(
            actor=user, account=acct, instrument=instrument, side="BUY", quantity=quantity, order_type="LMT",
            limit_price=Decimal("100.00"), source="api", via="test",
        )  # fmt: skip
    BrokerAccount.objects.filter(pk=account.pk).update(trading_enabled=False, halted_reason="Lunch")
    client.force_login(trader)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="desk-summary"' in page
    assert account.code in page and other_account.code not in page
    assert "halted</strong>: Lunch" in page
    assert '<td id="open-orders-total">2</td>' in page
    assert "Kill switch released." in page


def test_the_desk_summary_counts_every_account_halted_while_the_kill_switch_is_engaged(client, trader, account,
                                                                                      risk_manager):  # fmt: skip
    from accounts.services import kill_switch_engage

    client.force_login(trader)
    assert "enabled" in client.get(reverse("admin:index")).content.decode()

    kill_switch_engage(actor=risk_manager, reason="Broker outage", via="test")
    page = client.get(reverse("admin:index")).content.decode()

    assert "<strong>halted</strong> (kill switch)" in page
    assert "1 account, 1 halted" in page
    assert "enabled" not in page


# --- every page renders --------------------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["admin", "trader", "viewer"])
def test_every_admin_list_and_page_renders(client, admin_user, trader, viewer, account, instrument, username):
    from django.contrib import admin as django_admin

    from orders.tests.factories import FillFactory, PositionFactory
    from strategies.tests.factories import TradingSessionFactory

    order = order_services.order_submit(
        actor=trader, account=account, instrument=instrument, side="BUY", quantity=1, order_type="LMT",
        limit_price=Decimal("100.00"), source="api", via="test",
    )  # fmt: skip
    FillFactory(account=account, instrument=instrument, order=order)
    PositionFactory(account=account, instrument=instrument)
    TradingSessionFactory(account=account)
    AlertFactory(account=account)
    services.kill_switch_engage(actor=admin_user, reason="Smoke", via="test")
    user = {"admin": admin_user, "trader": trader, "viewer": viewer}[username]
    client.force_login(user)
    checked = 0
    for model, model_admin in django_admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        request = client.get("/admin/").wsgi_request
        if not model_admin.has_view_or_change_permission(request):
            continue
        response = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert response.status_code == 200, info
        row = model_admin.get_queryset(request).first()
        if row is not None and model is not KillSwitch:
            assert client.get(reverse("admin:{}_{}_change".format(*info), args=[row.pk])).status_code == 200, info
        if model_admin.has_add_permission(request):
            assert client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 200, info
        checked += 1
    assert checked >= (15 if username == "admin" else 10)


def test_a_position_mismatch_is_acknowledged_only_through_its_own_action(client, risk_manager, account):
    mismatch = AlertFactory(account=account, kind="position.mismatch", key="position.mismatch:DU0000001:AAPL")
    client.force_login(risk_manager)
    url = reverse("admin:accounts_alert_changelist")
    client.post(url, {"action": "acknowledge", "_selected_action": [mismatch.pk]})
    mismatch.refresh_from_db()
    assert mismatch.status == Alert.Status.OPEN
    client.post(url, {"action": "acknowledge_position_mismatch", "_selected_action": [mismatch.pk]})
    mismatch.refresh_from_db()
    assert mismatch.status == Alert.Status.ACKNOWLEDGED and mismatch.acknowledged_by == risk_manager


def test_a_trader_is_not_offered_the_position_mismatch_action(client, trader, account):
    AlertFactory(account=account, kind="position.mismatch")
    client.force_login(trader)
    assert (
        "acknowledge_position_mismatch" not in client.get(reverse("admin:accounts_alert_changelist")).content.decode()
    )


def test_the_admin_index_links_to_every_live_page(client, viewer):
    client.force_login(viewer)
    page = client.get("/admin/").content.decode()
    for path in ("/live/", "/live/orders/", "/live/positions/", "/live/sessions/", "/live/market/", "/live/system/"):
        assert f'href="{path}"' in page
