"""The accounts API: accounts with values and positions, halts, the kill switch, alerts, audit rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AccountValue, Alert, AuditLog, KillSwitch, OutboxMessage
from accounts.tests.factories import AlertFactory
from orders.tests.factories import PositionFactory

pytestmark = pytest.mark.django_db


def test_an_account_shows_its_broker_values_and_open_positions(api_client, viewer, account, instrument):
    AccountValue.objects.create(account=account, tag="NetLiquidation", value="1000000.00", updated_at=timezone.now())
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("50"), average_cost=Decimal("99"))
    api_client.force_authenticate(viewer)

    body = api_client.get(reverse("api-v1:account-detail", kwargs={"code": account.code})).json()

    assert [(v["tag"], v["value"]) for v in body["values"]] == [("NetLiquidation", "1000000.00")]
    assert [(p["symbol"], p["quantity"]) for p in body["positions"]] == [("AAPL", "50.0000")]


def test_another_desks_account_is_not_found_and_not_listed(api_client, viewer, account, other_account):
    api_client.force_authenticate(viewer)

    listed = api_client.get(reverse("api-v1:account-list")).json()["results"]
    detail = api_client.get(reverse("api-v1:account-detail", kwargs={"code": other_account.code}))

    assert [row["code"] for row in listed] == [account.code]
    assert detail.status_code == 404
    assert detail["Content-Type"] == "application/problem+json"


def test_a_risk_manager_halts_and_resumes_an_account_through_the_worker(api_client, risk_manager, account):
    api_client.force_authenticate(risk_manager)
    halt = reverse("api-v1:account-halt", kwargs={"code": account.code})
    resume = reverse("api-v1:account-resume", kwargs={"code": account.code})

    halted = api_client.post(halt, {"reason": "fat finger", "cancel_working": True}, format="json")
    resumed = api_client.post(resume, format="json")

    assert halted.status_code == 200 and halted.json()["trading_enabled"] is False
    assert halted.json()["halted_by"] == risk_manager.username
    assert resumed.json()["trading_enabled"] is True
    commands = list(OutboxMessage.objects.filter(type__startswith="trading.").values_list("type", "data"))
    assert commands == [
        ("trading.halt", {"account": account.code, "mode": "cancel_all"}),
        ("trading.resume", {"account": account.code}),
    ]
    actions = list(AuditLog.objects.filter(via="api", actor=risk_manager).values_list("action", flat=True))
    assert sorted(actions) == ["account.halt", "account.resume"]


def test_halting_another_desks_account_is_not_found(api_client, risk_manager, other_account):
    api_client.force_authenticate(risk_manager)

    response = api_client.post(
        reverse("api-v1:account-halt", kwargs={"code": other_account.code}), {"reason": "x"}, format="json"
    )

    assert response.status_code == 404
    other_account.refresh_from_db()
    assert other_account.trading_enabled is True


def test_a_halt_needs_a_reason(api_client, risk_manager, account):
    api_client.force_authenticate(risk_manager)

    response = api_client.post(reverse("api-v1:account-halt", kwargs={"code": account.code}), {}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"reason": ["This field is required."]}


def test_the_kill_switch_is_engaged_and_released_by_a_risk_manager(api_client, risk_manager, viewer):
    api_client.force_authenticate(viewer)
    assert api_client.get(reverse("api-v1:kill-switch")).json()["engaged"] is False

    api_client.force_authenticate(risk_manager)
    engaged = api_client.post(reverse("api-v1:kill-switch-engage"), {"reason": "runaway algo"}, format="json")
    assert engaged.json() | {"changed_at": None} == {
        "engaged": True,
        "reason": "runaway algo",
        "changed_at": None,
        "changed_by": risk_manager.username,
    }
    assert KillSwitch.objects.get(pk=1).engaged
    released = api_client.post(reverse("api-v1:kill-switch-release"), format="json")
    assert released.json()["engaged"] is False
    actions = list(AuditLog.objects.filter(via="api").order_by("id").values_list("action", flat=True))
    assert actions == ["kill_switch.engage", "kill_switch.release"]


def test_alerts_are_listed_by_status_and_acknowledged(api_client, risk_manager, account, other_account):
    mine = AlertFactory(account=account)
    desk = AlertFactory(account=None, status=Alert.Status.ACKNOWLEDGED)
    AlertFactory(account=other_account)
    api_client.force_authenticate(risk_manager)

    everything = {row["id"] for row in api_client.get(reverse("api-v1:alert-list")).json()["results"]}
    open_only = [
        row["id"] for row in api_client.get(reverse("api-v1:alert-list"), {"status": "open"}).json()["results"]
    ]
    acknowledged = api_client.post(reverse("api-v1:alert-acknowledge", kwargs={"pk": mine.pk}), format="json")

    assert everything == {mine.pk, desk.pk}
    assert open_only == [mine.pk]
    assert acknowledged.json()["status"] == "acknowledged"
    assert acknowledged.json()["acknowledged_by"] == risk_manager.username
    assert AuditLog.objects.filter(action="alert.acknowledge", actor=risk_manager, via="api").exists()


def test_another_desks_alert_cannot_be_seen_or_acknowledged(api_client, risk_manager, other_account):
    theirs = AlertFactory(account=other_account)
    api_client.force_authenticate(risk_manager)

    assert api_client.get(reverse("api-v1:alert-detail", kwargs={"pk": theirs.pk})).status_code == 404
    assert api_client.post(reverse("api-v1:alert-acknowledge", kwargs={"pk": theirs.pk})).status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Alert.Status.OPEN


def test_health_reports_the_database_and_redis(api_client, viewer):
    api_client.force_authenticate(viewer)

    body = api_client.get(reverse("api-v1:health")).json()

    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] and body["checks"]["redis"]["ok"]


def test_the_docs_page_loads_nothing_from_the_internet(api_client, viewer):
    api_client.force_authenticate(viewer)

    page = api_client.get(reverse("api-v1:docs")).content.decode()

    assert "swagger-ui" in page
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    # And this server serves those assets itself.
    bundle = api_client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert bundle.status_code == 200


def test_the_schema_documents_the_idempotency_key_and_problem_answers(api_client, viewer):
    api_client.force_authenticate(viewer)

    schema = api_client.get(reverse("api-v1:schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    create = schema["paths"]["/api/v1/orders/"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in create["parameters"])
    assert "application/problem+json" in create["responses"]["422"]["content"]
    schemes = schema["components"]["securitySchemes"].values()
    assert {"type": "apiKey", "in": "header", "name": "Authorization"}.items() <= next(
        scheme for scheme in schemes if scheme.get("name") == "Authorization"
    ).items()


def test_an_unknown_api_path_is_a_problem_not_a_page(api_client, viewer):
    api_client.force_authenticate(viewer)

    response = api_client.post("/api/v1/no/such/thing/", {}, format="json")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_the_reason_given_for_a_release_is_kept_and_audited(api_client, risk_manager):
    api_client.force_authenticate(risk_manager)
    api_client.post(reverse("api-v1:kill-switch-engage"), {"reason": "runaway algo"}, format="json")

    released = api_client.post(reverse("api-v1:kill-switch-release"), {"reason": "algo stopped"}, format="json")

    assert released.status_code == 200
    assert (released.json()["engaged"], released.json()["reason"]) == (False, "algo stopped")
    assert api_client.get(reverse("api-v1:kill-switch")).json()["reason"] == "algo stopped"
    row = AuditLog.objects.get(action="kill_switch.release")
    assert (row.before["reason"], row.after["reason"]) == ("runaway algo", "algo stopped")
