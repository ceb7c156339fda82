"""Broker accounts and memberships change only through audited services; a refusal leaves no rows."""

from __future__ import annotations

import pytest

from accounts.exceptions import (
    AccountNotMember,
    BrokerAccountCodeTaken,
    BrokerAccountInvalid,
    MembershipExists,
    MembershipInvalid,
    PermissionRequired,
)
from accounts.models import AccountMembership, AuditLog, BrokerAccount, Role
from accounts.selectors import accounts_for_user
from accounts.services import broker_account_create, broker_account_update, membership_add, membership_remove
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk_admin(account):
    """An Admin-role person who is not a superuser: a member of ``account`` only."""
    return UserFactory(username="desk-admin", roles=[Role.ADMIN], accounts=[account])


def test_creating_an_account_records_it_and_its_audit_row(admin_user):
    account = broker_account_create(
        actor=admin_user, code="du1234567", name=" Paper three ", base_currency="eur", kind="live", via="test"
    )
    account.refresh_from_db()
    assert (account.code, account.name, account.base_currency, account.kind) == (
        "DU1234567",
        "Paper three",
        "EUR",
        "live",
    )
    assert account.trading_enabled
    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor, audit.account, audit.via) == ("account.create", admin_user, account, "test")
    assert audit.before is None
    assert audit.after == {"code": "DU1234567", "name": "Paper three", "base_currency": "EUR", "kind": "live"}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"code": "not-a-code"}, "code"),
        ({"name": "  "}, "name"),
        ({"base_currency": "DOLLARS"}, "base_currency"),
        ({"kind": "margin"}, "kind"),
    ],
)
def test_an_account_with_a_bad_field_is_refused_and_leaves_no_rows(admin_user, fields, field):
    arguments = {"code": "DU7654321", "name": "Paper", **fields}
    with pytest.raises(BrokerAccountInvalid) as refused:
        broker_account_create(actor=admin_user, via="test", **arguments)
    assert (refused.value.code, refused.value.field) == ("account.invalid", field)
    assert (BrokerAccount.objects.count(), AuditLog.objects.count()) == (0, 0)


def test_an_account_code_already_recorded_is_refused(admin_user, account):
    with pytest.raises(BrokerAccountCodeTaken) as refused:
        broker_account_create(actor=admin_user, code=account.code, name="Twin", via="test")
    assert refused.value.code == "account.code_taken"
    assert (BrokerAccount.objects.count(), AuditLog.objects.count()) == (1, 0)


def test_a_risk_manager_may_not_create_accounts(risk_manager):
    with pytest.raises(PermissionRequired):
        broker_account_create(actor=risk_manager, code="DU7654321", name="Paper", via="test")
    assert not BrokerAccount.objects.filter(code="DU7654321").exists()


def test_updating_an_account_audits_only_what_changed(risk_manager, account):
    broker_account_update(account=account, actor=risk_manager, name="Paper one (desk)", kind="paper", via="admin")
    account.refresh_from_db()
    assert account.name == "Paper one (desk)"
    audit = AuditLog.objects.get()
    assert (audit.action, audit.account, audit.via) == ("account.update", account, "admin")
    assert (audit.before, audit.after) == ({"name": "Paper one"}, {"name": "Paper one (desk)"})


def test_an_update_that_changes_nothing_writes_nothing(risk_manager, account):
    broker_account_update(account=account, actor=risk_manager, name=account.name, via="test")
    assert not AuditLog.objects.exists()


def test_an_account_update_with_a_bad_currency_changes_nothing(risk_manager, account):
    with pytest.raises(BrokerAccountInvalid):
        broker_account_update(account=account, actor=risk_manager, name="Renamed", base_currency="12", via="test")
    account.refresh_from_db()
    assert (account.name, account.base_currency, AuditLog.objects.count()) == ("Paper one", "USD", 0)


def test_the_code_of_an_account_cannot_be_changed(risk_manager, account):
    with pytest.raises(TypeError):
        broker_account_update(account=account, actor=risk_manager, code="DU9999999", via="test")


def test_a_non_member_may_not_update_an_account(risk_manager, other_account):
    with pytest.raises(AccountNotMember):
        broker_account_update(account=other_account, actor=risk_manager, name="Mine now", via="test")
    other_account.refresh_from_db()
    assert other_account.name == "Paper two"


# --- memberships -------------------------------------------------------------------------------


def test_adding_a_member_lets_them_see_the_account_and_is_audited(desk_admin, account, user):
    membership = membership_add(account=account, user=user, actor=desk_admin, via="admin")
    assert list(accounts_for_user(user)) == [account]
    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor, audit.account, audit.object_id) == (
        "membership.add",
        desk_admin,
        account,
        str(membership.pk),
    )
    assert audit.after == {"user": "someone", "account": account.code}


def test_adding_a_member_twice_is_refused(desk_admin, account, user):
    membership_add(account=account, user=user, actor=desk_admin, via="test")
    with pytest.raises(MembershipExists) as refused:
        membership_add(account=account, user=user, actor=desk_admin, via="test")
    assert refused.value.code == "membership.exists"
    assert (AccountMembership.objects.filter(user=user).count(), AuditLog.objects.count()) == (1, 1)


def test_an_inactive_user_cannot_be_made_a_member(desk_admin, account, user):
    user.is_active = False
    user.save(update_fields=["is_active"])
    with pytest.raises(MembershipInvalid):
        membership_add(account=account, user=user, actor=desk_admin, via="test")
    assert not AccountMembership.objects.filter(user=user).exists()
    assert not AuditLog.objects.exists()


def test_only_a_member_with_the_permission_may_add_members(desk_admin, trader, account, other_account, user):
    with pytest.raises(AccountNotMember):
        membership_add(account=other_account, user=user, actor=desk_admin, via="test")
    with pytest.raises(PermissionRequired):
        membership_add(account=account, user=user, actor=trader, via="test")
    assert not AccountMembership.objects.filter(user=user).exists()
    assert not AuditLog.objects.exists()


def test_removing_a_member_ends_their_access_and_is_audited(desk_admin, trader, account):
    membership = AccountMembership.objects.get(user=trader, account=account)
    membership_remove(membership=membership, actor=desk_admin, via="admin")
    assert list(accounts_for_user(trader)) == []
    audit = AuditLog.objects.get()
    assert (audit.action, audit.object_id, audit.account) == ("membership.remove", str(membership.pk), account)
    assert (audit.before, audit.after) == ({"user": "trader", "account": account.code}, None)
    membership_remove(membership=membership, actor=desk_admin, via="admin")
    assert AuditLog.objects.count() == 1


def test_a_trader_may_not_remove_members(trader, viewer, account):
    with pytest.raises(PermissionRequired):
        membership_remove(membership=viewer.memberships.get(), actor=trader, via="test")
    assert list(accounts_for_user(viewer)) == [account]
