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


def test_a_trader_sees_only_their_own_tokens_in_the_admin(client, trader, risk_manager):
    mine, _ = AuthToken.objects.create(user=trader)
    theirs, _ = AuthToken.objects.create(user=risk_manager)
    client.force_login(trader)

    index = client.get(reverse("admin:index")).content.decode()
    page = client.get(reverse("admin:knox_authtoken_changelist"))

    assert reverse("admin:knox_authtoken_changelist") in index
    assert page.status_code == 200
    assert mine.token_key in page.content.decode()
    assert theirs.token_key not in page.content.decode()
    assert client.get(reverse("admin:knox_authtoken_change", args=[theirs.pk])).status_code in (302, 404)


def test_a_risk_manager_creates_a_token_for_themselves_and_sees_only_the_token_once(client, risk_manager, trader):
    client.force_login(risk_manager)

    form = client.get(reverse("admin:knox_authtoken_add")).content.decode()
    response = client.post(reverse("admin:knox_authtoken_add"), {"user": trader.pk, "ttl_hours": 2}, follow=True)

    assert f'value="{trader.pk}"' not in form  # no choice of holder: one's own tokens only
    assert response.status_code == 200
    assert not AuthToken.objects.filter(user=trader).exists()
    token = AuthToken.objects.get(user=risk_manager)
    shown = [str(message) for message in response.context["messages"]]
    assert len(shown) == 1 and token.token_key in shown[0] and "copy it now" in shown[0]
    assert AuditLog.objects.get(action="api_token.create").actor == risk_manager


def test_a_viewer_creates_a_token_of_their_own_for_a_reporting_script(client, viewer):
    client.force_login(viewer)

    response = client.post(reverse("admin:knox_authtoken_add"), {"ttl_hours": 2}, follow=True)

    assert response.status_code == 200
    token = AuthToken.objects.get(user=viewer)
    assert any(token.token_key in str(message) for message in response.context["messages"])
    assert AuditLog.objects.get(action="api_token.create").actor == viewer


def test_an_admin_creating_a_token_is_offered_only_the_token_not_the_stored_digest(client, admin_user, trader):
    client.force_login(admin_user)

    response = client.post(reverse("admin:knox_authtoken_add"), {"user": trader.pk, "ttl_hours": 2}, follow=True)

    shown = [str(message) for message in response.context["messages"]]
    assert len(shown) == 1 and shown[0].startswith(f"Token for {trader}: ")
    assert "was added successfully" not in response.content.decode()


def test_a_trader_revokes_their_own_token_but_never_another_users(client, trader, risk_manager):
    mine, _ = AuthToken.objects.create(user=trader)
    theirs, _ = AuthToken.objects.create(user=risk_manager)
    client.force_login(trader)

    client.post(
        reverse("admin:knox_authtoken_changelist"),
        {"action": "revoke_tokens", "_selected_action": [mine.pk, theirs.pk]},
        follow=True,
    )
    client.post(reverse("admin:knox_authtoken_delete", args=[theirs.pk]), {"post": "yes"}, follow=True)

    assert list(AuthToken.objects.values_list("user", flat=True)) == [risk_manager.pk]
    row = AuditLog.objects.get(action="api_token.revoke")
    assert (row.actor, row.before["token_key"]) == (trader, mine.token_key)


def test_a_lifetime_above_the_desks_maximum_is_refused_in_words(client, trader):
    client.force_login(trader)

    response = client.post(reverse("admin:knox_authtoken_add"), {"ttl_hours": 24 * 7 + 1})

    assert response.status_code == 200
    assert "At most 7 days on this desk." in response.content.decode()
    assert not AuthToken.objects.exists()
