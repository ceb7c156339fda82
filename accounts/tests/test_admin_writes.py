"""The accounts admin writes accounts and memberships through the audited services only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AccountMembership, AuditLog, BrokerAccount, Role
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ACCOUNT_ADD_URL = reverse("admin:accounts_brokeraccount_add")


def inline_data(response) -> dict:
    """The management forms and the current rows of every inline on an admin page, as POST data."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({management.add_prefix(name): value for name, value in management.initial.items()})
        for form in formset.initial_forms:
            data[form.add_prefix("id")] = form.instance.pk
            for name in form.fields:
                value = form.initial.get(name)
                if value is not None and name != "id":
                    data[form.add_prefix(name)] = value
    return data


def user_form(user) -> dict:
    """The fields of the user change form, unchanged."""
    return {
        "username": user.username,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-01-02",
        "date_joined_1": "09:00:00",
    }


def actions() -> list[tuple[str, str]]:
    return list(AuditLog.objects.order_by("id").values_list("action", "via"))


def test_adding_an_account_in_the_admin_goes_through_the_service(admin_client):
    page = admin_client.get(ACCOUNT_ADD_URL)
    data = {**inline_data(page), "code": "DU7777777", "name": "Paper seven", "base_currency": "USD", "kind": "paper"}
    response = admin_client.post(ACCOUNT_ADD_URL, data)
    assert response.status_code == 302
    account = BrokerAccount.objects.get(code="DU7777777")
    audit = AuditLog.objects.get()
    assert (audit.action, audit.via, audit.object_id, audit.account) == (
        "account.create",
        "admin",
        str(account.pk),
        account,
    )


def test_editing_an_account_in_the_admin_audits_the_change(admin_client, account):
    url = reverse("admin:accounts_brokeraccount_change", args=[account.pk])
    page = admin_client.get(url)
    data = {**inline_data(page), "name": "Paper one (renamed)", "base_currency": "USD", "kind": "paper"}
    assert admin_client.post(url, data).status_code == 302
    account.refresh_from_db()
    assert account.name == "Paper one (renamed)"
    audit = AuditLog.objects.get()
    assert (audit.action, audit.before, audit.after) == (
        "account.update",
        {"name": "Paper one"},
        {"name": "Paper one (renamed)"},
    )


def test_adding_and_removing_a_member_on_the_account_page_is_audited(admin_client, trader, account, user):
    url = reverse("admin:accounts_brokeraccount_change", args=[account.pk])
    data = {**inline_data(admin_client.get(url)), "name": account.name, "base_currency": "USD", "kind": "paper"}
    data.update({"memberships-TOTAL_FORMS": 2, "memberships-1-user": user.pk, "memberships-1-account": account.pk})
    assert admin_client.post(url, data).status_code == 302
    assert AccountMembership.objects.filter(user=user, account=account).exists()

    data = {**inline_data(admin_client.get(url)), "name": account.name, "base_currency": "USD", "kind": "paper"}
    trader_membership = trader.memberships.get().pk
    trader_row = next(
        key.removesuffix("-id") for key, value in data.items() if value == trader_membership and key.endswith("-id")
    )
    data[f"{trader_row}-DELETE"] = "on"
    assert admin_client.post(url, data).status_code == 302
    assert not AccountMembership.objects.filter(user=trader).exists()
    assert actions() == [("membership.add", "admin"), ("membership.remove", "admin")]
    removed = AuditLog.objects.get(action="membership.remove")
    assert removed.before == {"user": "trader", "account": account.code}


def test_giving_a_user_an_account_on_their_page_is_audited(admin_client, account, user):
    url = reverse("admin:accounts_user_change", args=[user.pk])
    data = {**user_form(user), **inline_data(admin_client.get(url))}
    data.update({"memberships-TOTAL_FORMS": 1, "memberships-0-account": account.pk, "memberships-0-user": user.pk})
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(user.broker_accounts.all()) == [account]
    assert actions() == [("membership.add", "admin")]


def test_an_admin_cannot_add_members_to_an_account_they_are_not_a_member_of(client, account, other_account, user):
    desk_admin = UserFactory(username="desk-admin", roles=[Role.ADMIN], accounts=[account])
    client.force_login(desk_admin)
    url = reverse("admin:accounts_user_change", args=[user.pk])
    data = {**user_form(user), **inline_data(client.get(url))}
    data.update(
        {"memberships-TOTAL_FORMS": 1, "memberships-0-account": other_account.pk, "memberships-0-user": user.pk}
    )
    response = client.post(url, data, follow=True)
    assert "account.not_member" in response.content.decode()
    assert not AccountMembership.objects.filter(user=user).exists()
    assert not AuditLog.objects.exists()
