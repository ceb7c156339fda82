"""The audit log as CSV: whose entries a user may read (one definition for the admin and the API)
and the export's columns, each entry with its reason and the name of the object it changed."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from accounts.audit_names import audit_object_names, audit_reason
from accounts.models import AuditLog, User
from accounts.selectors import accounts_for_user
from tradeconsole.csv_export import Column


def audit_entries_for_user(user: User, queryset: QuerySet[AuditLog] | None = None) -> QuerySet[AuditLog]:
    """Return the audit entries ``user`` may read: their accounts' entries, and the desk-wide ones
    (the kill switch, users) for those who may engage the kill switch; a superuser reads every one."""
    queryset = AuditLog.objects.all() if queryset is None else queryset
    if user.is_superuser:
        return queryset
    visible = Q(account__in=accounts_for_user(user).values("pk"))
    # Desk-wide rows are for the people who control the desk: the permission the kill switch's service checks.
    if user.has_perm("accounts.change_killswitch"):
        visible |= Q(account__isnull=True)
    return queryset.filter(visible)


def name_entries(entries: list[AuditLog]) -> None:
    """Set ``entry.named`` (name, admin URL) on each of ``entries``: one query per object type."""
    names = audit_object_names(entries)
    for entry in entries:
        entry.named = names.get((entry.object_type, entry.object_id))


def _object_name(entry: AuditLog) -> str:
    found = getattr(entry, "named", None)
    return found[0] if found else f"{entry.object_type} #{entry.object_id}"


AUDIT_COLUMNS = [
    Column("Time (UTC)", lambda e: e.created_at),
    Column("Actor", lambda e: e.actor.get_username() if e.actor_id else ""),
    Column("Action", lambda e: e.action),
    Column("Object", _object_name),
    Column("Object type", lambda e: e.object_type),
    Column("Object id", lambda e: e.object_id),
    Column("Account", lambda e: e.account.code if e.account_id else ""),
    Column("Reason", audit_reason),
    Column("Via", lambda e: e.via),
    Column("Request id", lambda e: e.request_id),
]
