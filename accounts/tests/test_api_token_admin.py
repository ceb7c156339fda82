"""API tokens in the admin: listed by key and holder, created and revoked through the audited services."""

from __future__ import annotations

import pytest
from django.urls import reverse
from knox.models import AuthToken

from accounts.models import AuditLog

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_token_sees_it_once_and_the_creation_is_audited(client, admin_user, trader):
    client.force_login(admin_user)

    response = client.post(reverse("admin:knox_authtoken_add"), {"user": trader.pk, "ttl_hours": 2}, follow=True)

    assert response.status_code == 200
    token = AuthToken.objects.get(user=trader)
    shown = [str(message) for message in response.context["messages"] if "Token for" in str(message)]
    assert len(shown) == 1 and token.token_key in shown[0]
    row = AuditLog.objects.get(action="api_token.create")
    assert (row.actor, row.via, row.after["token_key"]) == (admin_user, "admin", token.token_key)


def test_the_token_list_shows_each_tokens_key_and_holder_never_the_token(client, admin_user, trader):
    token, text = AuthToken.objects.create(user=trader)
    client.force_login(admin_user)

    page = client.get(reverse("admin:knox_authtoken_changelist")).content.decode()

    assert token.token_key in page and trader.username in page
    assert text not in page


def test_revoking_from_the_admin_is_audited(client, admin_user, trader):
    token, _ = AuthToken.objects.create(user=trader)
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:knox_authtoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert not AuthToken.objects.exists()
    row = AuditLog.objects.get(action="api_token.revoke")
    assert (row.actor, row.via, row.before["token_key"]) == (admin_user, "admin", token.token_key)
