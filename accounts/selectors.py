"""Reads of accounts, roles and alerts, scoped to what a user may see (applied here, once)."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts import sql
from accounts.models import AccountValue, Alert, BrokerAccount, KillSwitch, Role, User


def accounts_for_user(user: User | None) -> QuerySet[BrokerAccount]:
    """Return the broker accounts ``user`` may see: every account for a superuser, else their memberships.

    Anonymous or inactive users see none.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return BrokerAccount.objects.none()
    if user.is_superuser:
        return BrokerAccount.objects.all()
    return BrokerAccount.objects.filter(memberships__user=user).distinct()


def account_for_member(user: User | None, code: str) -> BrokerAccount | None:
    """Return the account ``code`` if ``user`` may see it (``accounts_for_user``), else None.

    The account found counts as a proven membership for ``user_is_member`` on this user object.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    # The test of ``accounts_for_user`` in plain SQL: every API write names its account, and the
    # ORM's statement cost more CPU than the read.
    account = sql.account_with_code(code, member_id=None if user.is_superuser else user.pk)
    if account is None:
        return None
    _memberships_proven(user).add(account.pk)
    return account


def user_is_member(user: User | None, account: BrokerAccount) -> bool:
    """Return whether ``user`` may act on ``account`` (a superuser may act on every account).

    A membership proven once is remembered on the user object, as Django caches its permissions
    there: an API request that found the account among the caller's and then calls a service
    that checks it again asks the database once. Like the permissions, it lasts as long as the
    user object: one request (a socket's user is never asked to act).
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    proven = _memberships_proven(user)
    if account.pk not in proven:
        if not account.memberships.filter(user=user).exists():
            return False
        proven.add(account.pk)
    return True


def _memberships_proven(user: User) -> set[int]:
    proven = getattr(user, "_desk_memberships_proven", None)
    if proven is None:
        proven = user._desk_memberships_proven = set()
    return proven


def user_has_role(user: User | None, role: Role | str) -> bool:
    """Return whether ``user`` holds ``role`` (a Django group of that name); a superuser holds every role."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=Role(role).value).exists()


def user_roles(user: User | None) -> list[str]:
    """Return the names of the desk roles ``user`` holds, in the order of ``Role``."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    if user.is_superuser:
        return list(Role.values)
    names = set(user.groups.values_list("name", flat=True))
    return [role for role in Role.values if role in names]


def kill_switch_get() -> KillSwitch:
    """Return the kill switch row (pk 1), created released on first use."""
    switch, _ = KillSwitch.objects.get_or_create(pk=1)
    return switch


def kill_switch_reason() -> str | None:
    """Return the desk-wide kill switch's reason while it is engaged, None while it is released
    (no row means released)."""
    # Plain SQL: the ORM spends ~0.6 ms of CPU compiling this query against ~0.07 ms for the
    # read, and every account row on the live pages reads it.
    return sql.kill_switch_reason()


def kill_switch_engaged() -> bool:
    """Return whether the desk-wide kill switch is engaged (no row means released)."""
    return kill_switch_reason() is not None


def account_values(*, account: BrokerAccount) -> dict[str, str]:
    """Return the latest broker-reported values of ``account`` as tag → value."""
    return dict(AccountValue.objects.filter(account=account).values_list("tag", "value"))


def alert_list(
    *, user: User, status: str | list[str] | None = None, account: BrokerAccount | None = None
) -> QuerySet[Alert]:
    """Return the alerts ``user`` may see: desk-wide ones and those of their accounts, newest first.

    ``status`` filters by one status or a list; ``account`` narrows to one account.
    """
    visible = accounts_for_user(user)
    queryset = Alert.objects.select_related("account", "acknowledged_by").filter(
        Q(account__isnull=True) | Q(account__in=visible)
    )
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    if status:
        queryset = queryset.filter(status__in=[status] if isinstance(status, str) else list(status))
    if account is not None:
        queryset = queryset.filter(account=account)
    return queryset


def alert_open_for_key(key: str) -> Alert | None:
    """Return the unresolved alert named ``key``, if any."""
    return Alert.objects.exclude(status=Alert.Status.RESOLVED).filter(key=key).first()
