"""Memberships: who may see and act on which account, and the role groups' permissions."""

from __future__ import annotations

from django.db import transaction

from accounts.exceptions import MembershipExists, MembershipInvalid
from accounts.models import AccountMembership, BrokerAccount, User
from accounts.services.audit import audit_record
from accounts.services.common import account_lock, require_actor, save_unique


def _membership_snapshot(membership: AccountMembership) -> dict:
    return {"user": membership.user.get_username(), "account": membership.account.code}


@transaction.atomic
def membership_add(*, account: BrokerAccount, user: User, actor: User | None, via: str) -> AccountMembership:
    """Make ``user`` a member of ``account``: from now on they see it and may act on it as their role allows.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not manage this account's members.
    :raises MembershipInvalid: the user is inactive, or either side is not saved.
    :raises MembershipExists: the user is already a member.
    """
    require_actor(actor, account=account, perm="accounts.add_accountmembership")
    if account.pk is None or user.pk is None:
        raise MembershipInvalid("Save the account and the user first.")
    if not user.is_active:
        raise MembershipInvalid(f"{user.get_username()} is inactive.", field="user")
    # Serialises the members of one account, so the check below and the insert agree.
    account = account_lock(account.pk)
    if AccountMembership.objects.filter(account=account, user=user).exists():
        raise MembershipExists(f"{user.get_username()} is already a member of {account.code}.", field="user")
    membership = AccountMembership(account=account, user=user)
    save_unique(membership, taken=MembershipExists)
    audit_record(
        actor=actor,
        action="membership.add",
        obj=membership,
        account=account,
        after=_membership_snapshot(membership),
        via=via,
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: AccountMembership, actor: User | None, via: str) -> None:
    """End a membership: the user no longer sees the account nor acts on it.

    Orders the user entered stay theirs. Removing a membership already gone does nothing.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not manage this account's members.
    """
    require_actor(actor, account=membership.account, perm="accounts.delete_accountmembership")
    account_lock(membership.account_id)
    current = AccountMembership.objects.select_related("user", "account").filter(pk=membership.pk).first()
    if current is None:
        return
    before = _membership_snapshot(current)
    pk = current.pk
    current.delete()
    current.pk = pk  # the audit row names the membership that ended
    audit_record(actor=actor, action="membership.remove", obj=current, account=current.account, before=before, via=via)


@transaction.atomic
def roles_sync() -> dict[str, int]:
    """Create the role groups and give each exactly the permissions ``accounts.roles`` grants.

    The data migration does this once; run it again after adding models. Returns how many
    permissions each role holds.
    """
    from django.contrib.auth.models import Group, Permission

    from accounts.roles import ROLE_PERMISSIONS, expand

    rows = list(Permission.objects.values_list("pk", "content_type__app_label", "codename"))
    by_key = {(app, codename): pk for pk, app, codename in rows}
    counts: dict[str, int] = {}
    for role, rules in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=str(role))
        granted = expand(rules, list(by_key))
        group.permissions.set([by_key[key] for key in granted])
        counts[str(role)] = len(granted)
    return counts
