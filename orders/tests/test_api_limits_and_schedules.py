"""The API's risk limits (read; Risk managers change them) and scheduled orders (CRUD, enable, firings)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditLog, OutboxMessage
from orders.models import ScheduledOrder, ScheduledOrderRun
from orders.tests.factories import InstrumentFactory
from orders.tests.helpers import SCHEDULE

pytestmark = pytest.mark.django_db


def limits_url(account) -> str:
    return reverse("api-v1:risk-limit-detail", kwargs={"code": account.code})


def test_risk_limits_are_listed_only_for_the_callers_accounts(api_client, viewer, account, other_account):
    api_client.force_authenticate(viewer)

    rows = api_client.get(reverse("api-v1:risk-limit-list")).json()["results"]

    assert [row["account"] for row in rows] == [account.code]
    assert api_client.get(limits_url(other_account)).status_code == 404


def test_a_risk_manager_changes_limits_and_they_are_published_to_the_worker(api_client, risk_manager, account):
    InstrumentFactory(symbol="MSFT")
    api_client.force_authenticate(risk_manager)

    response = api_client.patch(
        limits_url(account),
        {"max_order_quantity": "250", "orders_per_minute": 30, "allowed_instruments": ["MSFT"]},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["max_order_quantity"], body["orders_per_minute"], body["allowed_instruments"]) == (
        "250.0000",
        30,
        ["MSFT"],
    )
    published = OutboxMessage.objects.filter(type="risk.limits", stream="risk").latest("id")
    assert published.data["max_order_quantity"] == "250" and published.data["allowed_symbols"] == ["MSFT"]
    row = AuditLog.objects.get(action="risk_limit.update")
    assert (row.actor, row.via, row.before["max_order_quantity"]) == (risk_manager, "api", "1000")


def test_a_negative_limit_is_a_field_error(api_client, risk_manager, account):
    api_client.force_authenticate(risk_manager)

    response = api_client.patch(limits_url(account), {"max_position": "-1"}, format="json")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"max_position"}
    account.risk_limit.refresh_from_db()
    assert account.risk_limit.max_position == Decimal("5000")


def test_a_risk_manager_changes_the_approval_threshold_and_monitoring_policies(api_client, risk_manager, account):
    api_client.force_authenticate(risk_manager)
    changes = {
        "approval_above_notional": "5000",
        "stop_loss_pct": "2.50",
        "take_profit_pct": "4.00",
        "stale_order_seconds": 90,
        "stale_order_action": "cancel",
        "stale_reprice_max": 1,
        "reject_retry_max": 2,
    }

    response = api_client.patch(limits_url(account), changes, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["approval_above_notional"] == "5000.0000" and body["stale_order_action"] == "cancel"
    account.risk_limit.refresh_from_db()
    limits = account.risk_limit
    assert (limits.approval_above_notional, limits.stop_loss_pct, limits.stale_order_seconds) == (
        Decimal("5000"),
        Decimal("2.50"),
        90,
    )
    assert (limits.stale_order_action, limits.stale_reprice_max, limits.reject_retry_max) == ("cancel", 1, 2)
    row = AuditLog.objects.get(action="risk_limit.update")
    assert row.before["approval_above_notional"] is None
    assert Decimal(row.after["approval_above_notional"]) == Decimal("5000")


def test_an_unknown_risk_limit_field_is_refused_and_changes_nothing(api_client, risk_manager, account):
    api_client.force_authenticate(risk_manager)

    response = api_client.patch(limits_url(account), {"max_order_qty": "5"}, format="json")

    assert response.status_code == 400
    assert (response.json()["code"], set(response.json()["errors"])) == ("validation_error", {"max_order_qty"})
    assert not AuditLog.objects.filter(action="risk_limit.update").exists()


def test_a_patch_that_changes_nothing_writes_no_audit_row(api_client, risk_manager, account):
    api_client.force_authenticate(risk_manager)

    response = api_client.patch(limits_url(account), {"max_order_quantity": "1000"}, format="json")

    assert response.status_code == 200, response.content
    assert not AuditLog.objects.filter(action="risk_limit.update").exists()


def test_a_trader_cannot_change_risk_limits(api_client, trader, account):
    api_client.force_authenticate(trader)

    response = api_client.patch(limits_url(account), {"max_order_quantity": "1000000"}, format="json")

    assert response.status_code == 403
    account.risk_limit.refresh_from_db()
    assert account.risk_limit.max_order_quantity == Decimal("1000")


def test_a_trader_creates_changes_and_pauses_a_scheduled_order(api_client, trader, instrument):
    api_client.force_authenticate(trader)

    created = api_client.post(reverse("api-v1:scheduled-order-list"), SCHEDULE, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    changed = api_client.patch(
        reverse("api-v1:scheduled-order-detail", kwargs={"pk": pk}), {"quantity": "7"}, format="json"
    )
    paused = api_client.post(reverse("api-v1:scheduled-order-disable", kwargs={"pk": pk}))
    resumed = api_client.post(reverse("api-v1:scheduled-order-enable", kwargs={"pk": pk}))

    assert changed.json()["quantity"] == "7.0000" and changed.json()["time_of_day"] == "09:31:00"
    assert (paused.json()["enabled"], resumed.json()["enabled"]) == (False, True)
    actions = list(AuditLog.objects.filter(actor=trader, via="api").order_by("id").values_list("action", flat=True))
    assert actions == [
        "scheduled_order.create",
        "scheduled_order.update",
        "scheduled_order.pause",
        "scheduled_order.resume",
    ]


def test_a_scheduled_order_template_is_checked_like_an_order(api_client, trader, instrument):
    api_client.force_authenticate(trader)

    no_price = api_client.post(reverse("api-v1:scheduled-order-list"), {**SCHEDULE, "order_type": "LMT"}, format="json")
    bad_zone = api_client.post(
        reverse("api-v1:scheduled-order-list"), {**SCHEDULE, "time_zone": "Mars/Olympus"}, format="json"
    )
    bad_days = api_client.post(reverse("api-v1:scheduled-order-list"), {**SCHEDULE, "weekdays": "7"}, format="json")

    assert (no_price.status_code, no_price.json()["code"]) == (400, "order.limit_price_required")
    assert (bad_zone.status_code, bad_zone.json()["code"]) == (400, "schedule.invalid")
    assert set(bad_days.json()["errors"]) == {"weekdays"}
    assert not ScheduledOrder.objects.exists()


def test_a_schedule_on_another_desks_account_is_refused_and_theirs_are_hidden(
    api_client, trader, instrument, other_account
):
    theirs = ScheduledOrder.objects.create(
        name="theirs", account=other_account, instrument=instrument, side="BUY", quantity=1, time_of_day=time(10)
    )
    api_client.force_authenticate(trader)

    created = api_client.post(
        reverse("api-v1:scheduled-order-list"), {**SCHEDULE, "account": other_account.code}, format="json"
    )
    listed = api_client.get(reverse("api-v1:scheduled-order-list")).json()["results"]
    disable = api_client.post(reverse("api-v1:scheduled-order-disable", kwargs={"pk": theirs.pk}))

    assert created.status_code == 400
    assert listed == []
    assert disable.status_code == 404


def test_the_next_firings_skip_weekends_and_holidays(api_client, viewer, account, instrument):
    schedule = ScheduledOrder.objects.create(
        name="close", account=account, instrument=instrument, side="SELL", quantity=1, time_of_day=time(15, 50)
    )
    api_client.force_authenticate(viewer)

    firings = api_client.get(reverse("api-v1:scheduled-order-next-firings", kwargs={"pk": schedule.pk})).json()

    instants = [datetime.fromisoformat(value) for value in firings["next_firings"]]
    assert len(instants) == 5 and instants == sorted(instants)
    assert all(instant > datetime.now(UTC) for instant in instants)
    assert all(instant.astimezone(UTC).weekday() < 5 for instant in instants)


def test_only_an_admin_deletes_a_schedule_and_never_one_that_fired(api_client, admin_user, account, instrument):
    fired = ScheduledOrder.objects.create(
        name="fired", account=account, instrument=instrument, side="BUY", quantity=1, time_of_day=time(10)
    )
    ScheduledOrderRun.objects.create(
        schedule=fired,
        trading_date=datetime(2026, 11, 20).date(),
        due_at=datetime(2026, 11, 20, 15, tzinfo=UTC),
        status=ScheduledOrderRun.Status.MISSED,
    )
    fresh = ScheduledOrder.objects.create(
        name="fresh", account=account, instrument=instrument, side="BUY", quantity=1, time_of_day=time(10)
    )
    api_client.force_authenticate(admin_user)

    refused = api_client.delete(reverse("api-v1:scheduled-order-detail", kwargs={"pk": fired.pk}))
    deleted = api_client.delete(reverse("api-v1:scheduled-order-detail", kwargs={"pk": fresh.pk}))

    assert (refused.status_code, refused.json()["code"]) == (409, "scheduled_order.has_runs")
    assert deleted.status_code == 204
    assert list(ScheduledOrder.objects.values_list("name", flat=True)) == ["fired"]
    assert AuditLog.objects.filter(action="scheduled_order.delete", object_id=str(fresh.pk)).exists()
