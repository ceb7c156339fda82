"""The orders admin: scoping to the user's accounts, order entry through the service, read-only history."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditLog, OutboxMessage, Role
from accounts.tests.factories import UserFactory
from orders import services
from orders.models import Fill, Order, OrderEvent, OrderStatus, RiskLimit
from orders.tests.factories import FillFactory, OrderFactory
from orders.tests.helpers import entry_form

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:orders_order_add")
CHANGELIST_URL = reverse("admin:orders_order_changelist")


def entry(account, instrument, **overrides) -> dict:
    """The POST body of the order-entry form on the admin's add page: a buy limit order for 10 at 100.00."""
    return entry_form(account, instrument, **{"_save": "Save", **overrides})


@pytest.fixture
def other_trader(other_account):
    return UserFactory(username="other-trader", roles=[Role.TRADER], accounts=[other_account])


@pytest.fixture
def other_order(other_account, other_trader, instrument):
    return services.order_submit(
        actor=other_trader, account=other_account, instrument=instrument, side="BUY", quantity=5,
        order_type="LMT", limit_price=Decimal("99.00"), source="api", via="test",
    )  # fmt: skip


@pytest.fixture
def own_order(account, trader, instrument):
    return services.order_submit(
        actor=trader, account=account, instrument=instrument, side="SELL", quantity=7,
        order_type="LMT", limit_price=Decimal("101.00"), source="api", via="test",
    )  # fmt: skip


# --- scoping ----------------------------------------------------------------------------------


def test_a_trader_lists_only_the_orders_of_their_accounts(client, trader, own_order, other_order):
    client.force_login(trader)
    response = client.get(CHANGELIST_URL)
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == [own_order]
    assert str(other_order.client_order_id) not in response.content.decode()


def test_a_trader_cannot_open_another_accounts_order(client, trader, other_order):
    client.force_login(trader)
    response = client.get(reverse("admin:orders_order_change", args=[other_order.pk]))
    # Django answers an object outside the queryset as "does not exist": back to the index.
    assert response.status_code == 302
    assert response.url == reverse("admin:index")
    assert str(other_order.client_order_id) not in client.get(response.url).content.decode()


def test_the_entry_form_offers_only_the_traders_accounts(client, trader, account, other_account):
    client.force_login(trader)
    response = client.get(ADD_URL)
    assert response.status_code == 200
    choices = response.context["adminform"].form.fields["account"].queryset
    assert list(choices) == [account]
    assert other_account.code not in response.content.decode()


def test_an_order_for_another_account_is_refused_as_an_invalid_choice(client, trader, other_account, instrument):
    client.force_login(trader)
    response = client.post(ADD_URL, entry(other_account, instrument))
    assert response.status_code == 200
    assert "account" in response.context["adminform"].form.errors
    assert not Order.objects.exists()


def test_fills_and_events_of_another_account_are_not_listed(client, trader, own_order, other_order, instrument):
    FillFactory(account=other_order.account, instrument=instrument, order=other_order, exec_id="other.1")
    FillFactory(account=own_order.account, instrument=instrument, order=own_order, exec_id="own.1", side="SELL")
    client.force_login(trader)
    fills = client.get(reverse("admin:orders_fill_changelist")).context["cl"].result_list
    assert [fill.exec_id for fill in fills] == ["own.1"]
    events = client.get(reverse("admin:orders_orderevent_changelist")).context["cl"].result_list
    assert {event.order_id for event in events} == {own_order.pk}


# --- order entry --------------------------------------------------------------------------------


def test_the_entry_form_creates_a_new_order_with_its_event_audit_row_and_command(client, trader, account, instrument):
    client.force_login(trader)
    form = entry(account, instrument)
    response = client.post(ADD_URL, form)
    order = Order.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:orders_order_change", args=[order.pk])
    assert str(order.client_order_id) == form["client_order_id"]
    assert (order.status, order.source, order.created_by) == (OrderStatus.NEW, "admin", trader)
    assert (order.side, order.quantity, order.limit_price) == ("BUY", Decimal("10"), Decimal("100.00"))
    event = OrderEvent.objects.get(order=order)
    assert (event.kind, event.to_status, event.actor) == ("submitted", OrderStatus.NEW, trader)
    audit = AuditLog.objects.get(action="order.submit")
    assert (audit.object_id, audit.actor, audit.account, audit.via) == (str(order.pk), trader, account, "admin")
    command = OutboxMessage.objects.get(type="order.place")
    assert command.data["client_order_id"] == form["client_order_id"]


def test_the_entry_form_renders_a_fresh_client_order_id_each_time(client, trader):
    client.force_login(trader)
    first = client.get(ADD_URL).context["adminform"].form["client_order_id"].value()
    second = client.get(ADD_URL).context["adminform"].form["client_order_id"].value()
    assert uuid.UUID(str(first)) != uuid.UUID(str(second))


def test_a_double_posted_form_creates_one_order(client, trader, account, instrument):
    client.force_login(trader)
    form = entry(account, instrument)
    first = client.post(ADD_URL, form)
    second = client.post(ADD_URL, form)
    order = Order.objects.get()
    assert first.url == second.url == reverse("admin:orders_order_change", args=[order.pk])
    assert OrderEvent.objects.filter(order=order).count() == 1
    assert AuditLog.objects.filter(action="order.submit").count() == 1
    assert OutboxMessage.objects.filter(type="order.place").count() == 1


def test_a_risk_refusal_is_a_form_error_on_the_quantity_and_leaves_no_rows(client, trader, account, instrument):
    RiskLimit.objects.filter(account=account).update(max_order_quantity=Decimal("5"))
    client.force_login(trader)
    audit_before = AuditLog.objects.count()
    response = client.post(ADD_URL, entry(account, instrument, quantity="6"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "risk.max_quantity" in errors["quantity"][0]
    assert "risk.max_quantity" in response.content.decode()
    assert not Order.objects.exists() and not OrderEvent.objects.exists()
    assert not OutboxMessage.objects.filter(type="order.place").exists()
    assert AuditLog.objects.count() == audit_before


def test_a_price_off_the_tick_is_a_form_error_on_the_limit_price(client, trader, account, instrument):
    client.force_login(trader)
    response = client.post(ADD_URL, entry(account, instrument, limit_price="100.005"))
    assert response.status_code == 200
    assert "order.price_off_tick" in response.context["adminform"].form.errors["limit_price"][0]
    assert not Order.objects.exists()


def test_an_order_on_a_halted_account_is_refused_on_the_account_field(client, trader, account, instrument):
    account.trading_enabled = False
    account.halted_reason = "Broker maintenance"
    account.save(update_fields=["trading_enabled", "halted_reason"])
    client.force_login(trader)
    response = client.post(ADD_URL, entry(account, instrument))
    assert "account.halted" in response.context["adminform"].form.errors["account"][0]
    assert not Order.objects.exists()


def test_a_viewer_cannot_enter_orders(client, viewer, account, instrument):
    client.force_login(viewer)
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, entry(account, instrument)).status_code == 403
    assert not Order.objects.exists()


# --- after entry ------------------------------------------------------------------------------------


def test_an_entered_order_cannot_be_edited_or_deleted(client, admin_user, own_order):
    client.force_login(admin_user)
    url = reverse("admin:orders_order_change", args=[own_order.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert client.post(url, {"quantity": "1"}).status_code == 403
    assert client.post(reverse("admin:orders_order_delete", args=[own_order.pk]), {"post": "yes"}).status_code == 403
    own_order.refresh_from_db()
    assert own_order.quantity == Decimal("7")


def test_the_order_page_shows_its_events_and_fills(client, trader, own_order, instrument):
    FillFactory(account=own_order.account, instrument=instrument, order=own_order, exec_id="exec.shown", side="SELL")
    client.force_login(trader)
    page = client.get(reverse("admin:orders_order_change", args=[own_order.pk])).content.decode()
    assert "submitted" in page
    assert "exec.shown" in page


def test_the_cancel_action_cancels_through_the_service(client, trader, own_order):
    client.force_login(trader)
    response = client.post(CHANGELIST_URL, {"action": "cancel_orders", "_selected_action": [own_order.pk]}, follow=True)
    assert response.status_code == 200
    own_order.refresh_from_db()
    # Never published by the relay, so the service cancels it locally and withdraws the command.
    assert own_order.status == OrderStatus.CANCELLED
    assert OrderEvent.objects.filter(order=own_order, kind="cancelled").exists()
    assert AuditLog.objects.filter(action="order.cancel", object_id=str(own_order.pk), via="admin").exists()
    assert "1 order(s)" in response.content.decode()


def test_the_cancel_action_leaves_another_accounts_order_alone(client, trader, other_order):
    client.force_login(trader)
    client.post(CHANGELIST_URL, {"action": "cancel_orders", "_selected_action": [other_order.pk]})
    other_order.refresh_from_db()
    assert other_order.status == OrderStatus.NEW


def test_a_viewer_is_not_offered_the_cancel_action(client, viewer, own_order):
    client.force_login(viewer)
    response = client.get(CHANGELIST_URL)
    assert response.status_code == 200
    assert "cancel_orders" not in response.content.decode()
    client.post(CHANGELIST_URL, {"action": "cancel_orders", "_selected_action": [own_order.pk]})
    own_order.refresh_from_db()
    assert own_order.status == OrderStatus.NEW


# --- read-only history --------------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", ["orderevent", "fill"])
def test_history_admins_are_read_only_even_for_a_superuser(client, admin_user, own_order, instrument, model_name):
    FillFactory(account=own_order.account, instrument=instrument, order=own_order, exec_id="ro.1", side="SELL")
    row = {"orderevent": OrderEvent, "fill": Fill}[model_name].objects.first()
    client.force_login(admin_user)
    assert client.get(reverse(f"admin:orders_{model_name}_add")).status_code == 403
    change_url = reverse(f"admin:orders_{model_name}_change", args=[row.pk])
    page = client.get(change_url)
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert client.post(change_url, {}).status_code == 403
    assert client.post(reverse(f"admin:orders_{model_name}_delete", args=[row.pk]), {"post": "yes"}).status_code == 403
    assert type(row).objects.filter(pk=row.pk).exists()


# --- risk limits -----------------------------------------------------------------------------------------


def _posted(value):
    """A form's initial value as the browser posts it (an empty field is "")."""
    return "" if value is None else value


def test_a_risk_manager_changes_limits_through_the_service(client, risk_manager, account):
    limits = RiskLimit.objects.get(account=account)
    client.force_login(risk_manager)
    url = reverse("admin:orders_risklimit_change", args=[limits.pk])
    form = client.get(url).context["adminform"].form
    data = {name: _posted(form[name].value()) for name in form.fields if name != "allowed_instruments"}
    data.update({"max_order_quantity": "250", "_save": "Save"})
    data.pop("account", None)
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    limits.refresh_from_db()
    assert limits.max_order_quantity == Decimal("250")
    audit = AuditLog.objects.get(action="risk_limit.update")
    assert audit.after["max_order_quantity"] == "250" and audit.via == "admin"
    published = OutboxMessage.objects.filter(type="risk.limits", stream="risk").latest("id")
    assert published.data["max_order_quantity"] == "250"


def test_a_risk_manager_changes_the_approval_threshold_and_monitoring_policies_in_the_admin(
    client, risk_manager, account
):
    limits = RiskLimit.objects.get(account=account)
    client.force_login(risk_manager)
    url = reverse("admin:orders_risklimit_change", args=[limits.pk])
    form = client.get(url).context["adminform"].form
    data = {name: _posted(form[name].value()) for name in form.fields if name != "allowed_instruments"}
    data.update({"approval_above_notional": "5000", "stop_loss_pct": "2.5", "stale_order_action": "cancel"})
    data.update({"_save": "Save"})
    data.pop("account", None)

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    limits.refresh_from_db()
    assert (limits.approval_above_notional, limits.stop_loss_pct, limits.stale_order_action) == (
        Decimal("5000"),
        Decimal("2.5"),
        "cancel",
    )
    audit = AuditLog.objects.get(action="risk_limit.update")
    assert (audit.after["approval_above_notional"], audit.after["stale_order_action"]) == ("5000", "cancel")


def test_saving_unchanged_risk_limits_writes_no_audit_row_but_publishes_them_again(client, risk_manager, account):
    limits = RiskLimit.objects.get(account=account)
    client.force_login(risk_manager)
    url = reverse("admin:orders_risklimit_change", args=[limits.pk])
    form = client.get(url).context["adminform"].form
    data = {name: _posted(form[name].value()) for name in form.fields if name != "allowed_instruments"}
    data.update({"_save": "Save"})
    data.pop("account", None)
    published = OutboxMessage.objects.filter(type="risk.limits").count()

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert not AuditLog.objects.filter(action="risk_limit.update").exists()
    # The worker may have lost them (a new Redis): saving is how a Risk manager re-sends them.
    assert OutboxMessage.objects.filter(type="risk.limits").count() == published + 1


def test_a_trader_cannot_change_risk_limits(client, trader, account):
    limits = RiskLimit.objects.get(account=account)
    client.force_login(trader)
    response = client.post(reverse("admin:orders_risklimit_change", args=[limits.pk]), {"max_order_quantity": "1"})
    assert response.status_code == 403
    limits.refresh_from_db()
    assert limits.max_order_quantity != Decimal("1")


def test_an_order_written_directly_for_another_account_stays_out_of_the_list(client, trader, other_account, instrument):
    hidden = OrderFactory(account=other_account, instrument=instrument)
    client.force_login(trader)
    assert hidden not in client.get(CHANGELIST_URL).context["cl"].result_list


def test_orders_are_found_by_client_order_id_symbol_or_ib_order_id(client, trader, own_order):
    client.force_login(trader)
    for term in (str(own_order.client_order_id), str(own_order.client_order_id)[:8], "AAPL", "not-a-number"):
        response = client.get(CHANGELIST_URL, {"q": term})
        assert response.status_code == 200, term
        found = list(response.context["cl"].result_list)
        assert found == ([] if term == "not-a-number" else [own_order]), term


# --- approval ----------------------------------------------------------------------------------------------


@pytest.fixture
def awaiting(client, trader, account, instrument):
    """An order entered from the admin above the account's approval threshold."""
    RiskLimit.objects.filter(account=account).update(approval_above_notional=Decimal("500"))
    client.force_login(trader)
    client.post(ADD_URL, entry(account, instrument))
    order = Order.objects.get()
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert not OutboxMessage.objects.filter(type="order.place").exists()
    client.logout()
    return order


def test_a_risk_manager_approves_an_order_through_the_service(client, risk_manager, awaiting):
    client.force_login(risk_manager)
    client.post(CHANGELIST_URL, {"action": "approve_orders", "_selected_action": [awaiting.pk]})
    awaiting.refresh_from_db()
    assert awaiting.status == OrderStatus.NEW
    assert OrderEvent.objects.filter(order=awaiting, kind="approved", actor=risk_manager).exists()
    assert AuditLog.objects.filter(action="order.approve", actor=risk_manager, via="admin").exists()
    assert OutboxMessage.objects.filter(type="order.place").count() == 1


def test_a_risk_manager_refuses_an_order_with_a_reason(client, risk_manager, awaiting):
    client.force_login(risk_manager)
    data = {"action": "refuse_orders", "_selected_action": [awaiting.pk]}
    step = client.post(CHANGELIST_URL, data)
    assert step.status_code == 200 and "reason" in step.context["form"].fields
    client.post(CHANGELIST_URL, {**data, "apply": "1", "reason": "Too large for today"})
    awaiting.refresh_from_db()
    assert (awaiting.status, awaiting.reject_code, awaiting.reject_reason) == (
        OrderStatus.REJECTED, "approval.refused", "Too large for today",
    )  # fmt: skip
    assert AuditLog.objects.filter(action="order.approval_refuse", via="admin").exists()
    assert not OutboxMessage.objects.filter(type="order.place").exists()


def test_a_trader_is_not_offered_approval(client, trader, awaiting):
    client.force_login(trader)
    assert "approve_orders" not in client.get(CHANGELIST_URL).content.decode()
    client.post(CHANGELIST_URL, {"action": "approve_orders", "_selected_action": [awaiting.pk]})
    awaiting.refresh_from_db()
    assert awaiting.status == OrderStatus.PENDING_APPROVAL


def test_whoever_entered_an_order_cannot_approve_it(client, risk_manager, account, instrument):
    RiskLimit.objects.filter(account=account).update(approval_above_notional=Decimal("500"))
    client.force_login(risk_manager)
    client.post(ADD_URL, entry(account, instrument))
    order = Order.objects.get()
    response = client.post(CHANGELIST_URL, {"action": "approve_orders", "_selected_action": [order.pk]}, follow=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_APPROVAL
    assert "order.transition_refused" in response.content.decode()
