"""API authentication: knox tokens (hashed, expiring, revocable, audited) and the CSRF-checked session."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient, APIRequestFactory

from accounts.api.authentication import TokenAuthentication
from accounts.models import AuditLog, Role, User
from accounts.tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_throttle_counts")]

TOKENS = reverse("api-v1:token-list")
ACCOUNTS = reverse("api-v1:account-list")


def basic(username: str, password: str = "password") -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def create_token(user, **body) -> dict:
    client = APIClient()
    response = client.post(TOKENS, body, format="json", HTTP_AUTHORIZATION=basic(user.username))
    assert response.status_code == 201, response.content
    return response.json()


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_script_gets_a_token_with_its_password_and_uses_it(trader, account):
    created = create_token(trader)

    response = with_token(created["token"]).get(ACCOUNTS)

    assert response.status_code == 200
    assert [row["code"] for row in response.json()["results"]] == [account.code]


def test_the_token_is_stored_only_as_a_digest(trader):
    created = create_token(trader)

    stored = AuthToken.objects.get(user=trader)
    assert created["token"] not in (stored.digest, stored.token_key)
    assert created["token"].startswith(stored.token_key)
    assert len(stored.digest) == 128


def test_a_wrong_password_gets_no_token(trader):
    response = APIClient().post(TOKENS, {}, format="json", HTTP_AUTHORIZATION=basic(trader.username, "wrong"))

    assert response.status_code == 401
    assert not AuthToken.objects.exists()


def test_every_token_expires_and_an_expired_one_is_refused(trader):
    created = create_token(trader, ttl_hours=1)
    token = AuthToken.objects.get(user=trader)
    assert timedelta(minutes=59) < token.expiry - timezone.now() <= timedelta(hours=1)

    AuthToken.objects.filter(pk=token.pk).update(expiry=timezone.now() - timedelta(seconds=1))
    response = with_token(created["token"]).get(ACCOUNTS)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "authentication_failed"


def test_creating_a_token_deletes_the_users_expired_ones_and_keeps_the_live_ones(trader, risk_manager):
    live = create_token(trader)
    create_token(trader)
    create_token(risk_manager)
    AuthToken.objects.exclude(token_key=live["token_key"]).update(expiry=timezone.now() - timedelta(seconds=1))

    create_token(trader)

    assert AuthToken.objects.filter(user=trader).count() == 2
    assert AuthToken.objects.filter(user=trader, token_key=live["token_key"]).exists()
    assert AuthToken.objects.filter(user=risk_manager).count() == 1  # another user's: theirs to create
    assert with_token(live["token"]).get(ACCOUNTS).status_code == 200


def test_a_token_cannot_outlive_the_desks_maximum(trader, settings):
    response = APIClient().post(
        TOKENS, {"ttl_hours": 24 * 365}, format="json", HTTP_AUTHORIZATION=basic(trader.username)
    )

    assert response.status_code == 400
    assert response.json()["code"] == "api_token.ttl_invalid"


def test_a_revoked_token_is_refused_and_the_revocation_is_audited(trader):
    created = create_token(trader)
    client = with_token(created["token"])

    response = client.delete(reverse("api-v1:token-revoke", kwargs={"token_key": created["token_key"]}))

    assert response.status_code == 204
    assert client.get(ACCOUNTS).status_code == 401
    row = AuditLog.objects.get(action="api_token.revoke")
    assert (row.actor, row.via, row.before["token_key"]) == (trader, "api", created["token_key"])


def test_creating_a_token_is_audited_without_the_token_itself(trader):
    created = create_token(trader)

    row = AuditLog.objects.get(action="api_token.create")
    assert (row.actor, row.via, row.object_id) == (trader, "api", str(trader.pk))
    assert row.after["token_key"] == created["token_key"]
    assert created["token"] not in str(row.after)


def test_a_user_lists_only_their_own_tokens_and_cannot_revoke_anothers(trader, viewer):
    mine = create_token(trader)
    theirs = create_token(viewer)
    client = with_token(mine["token"])

    listed = client.get(TOKENS).json()
    refused = client.delete(reverse("api-v1:token-revoke", kwargs={"token_key": theirs["token_key"]}))

    assert [row["token_key"] for row in listed] == [mine["token_key"]]
    assert refused.status_code == 404
    assert AuthToken.objects.filter(user=viewer).count() == 1


def test_an_order_placed_with_a_token_is_audited_as_the_tokens_user(trader, instrument):
    created = create_token(trader)

    response = with_token(created["token"]).post(
        reverse("api-v1:order-list"),
        {
            "account": "DU0000001",
            "symbol": "AAPL",
            "side": "BUY",
            "quantity": "1",
            "order_type": "LMT",
            "limit_price": "100.00",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="token-order-1",
    )

    assert response.status_code == 201
    row = AuditLog.objects.get(action="order.submit")
    assert (row.actor, row.via) == (trader, "api")


def test_a_deactivated_users_token_is_refused(trader):
    created = create_token(trader)
    trader.is_active = False
    trader.save(update_fields=["is_active"])

    assert with_token(created["token"]).get(ACCOUNTS).status_code == 401


def test_the_session_works_for_reads_and_needs_the_csrf_token_for_writes(trader, account):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(trader)

    assert client.get(ACCOUNTS).status_code == 200
    response = client.post(
        reverse("api-v1:account-halt", kwargs={"code": account.code}), {"reason": "x"}, format="json"
    )
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_user_may_hold_only_a_bounded_number_of_tokens(settings, account):
    user = UserFactory(username="scripter", roles=[Role.TRADER], accounts=[account])
    from knox.settings import knox_settings

    for _ in range(knox_settings.TOKEN_LIMIT_PER_USER):
        AuthToken.objects.create(user=user)

    response = APIClient().post(TOKENS, {}, format="json", HTTP_AUTHORIZATION=basic(user.username))

    assert response.status_code == 409
    assert response.json()["code"] == "api_token.limit"


def test_a_tokens_user_comes_with_the_permissions_the_backend_would_read(trader, django_assert_num_queries):
    trader.user_permissions.add(Permission.objects.get(codename="view_auditlog"))
    created = create_token(trader)
    request = APIRequestFactory().get(ACCOUNTS, HTTP_AUTHORIZATION=f"Token {created['token']}")

    user, _ = TokenAuthentication().authenticate(request)

    with django_assert_num_queries(0):
        preloaded = user.get_all_permissions()
    assert preloaded == User.objects.get(pk=trader.pk).get_all_permissions()
    assert {"orders.add_order", "accounts.view_auditlog"} <= preloaded
