"""The admin of the audit log: read-only, each entry with its reason and the name of what it changed.

An entry stores the changed object's type and id; the page names each object by its own ``str``
(one query per type on a page, not one per row) and shows the reason the change recorded.
"""

from __future__ import annotations

from collections import defaultdict

from django.apps import apps
from django.contrib import admin
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin, scope_to_accounts
from accounts.models import AuditLog

# Where an entry's before/after keeps the reason of the change, by the services that wrote it.
REASON_KEYS = ("reason", "halted_reason", "reject_reason", "detail")


def audit_reason(entry: AuditLog) -> str:
    """Return the reason the change recorded (after it, else before it), or ""."""
    for values in (entry.after, entry.before):
        if isinstance(values, dict):
            for key in REASON_KEYS:
                if values.get(key):
                    return str(values[key])
    return ""


def audit_object_names(entries: list[AuditLog]) -> dict[tuple[str, str], tuple[str, str]]:
    """Return (name, admin URL or "") by (object type, object id) for the objects of ``entries``.

    One query per object type; an object gone since (or of an unknown type) is left out, and is
    shown by its type and id.
    """
    ids_by_type: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        ids_by_type[entry.object_type].add(entry.object_id)
    names = {}
    for object_type, ids in ids_by_type.items():
        try:
            model = apps.get_model(object_type)
        except (LookupError, ValueError):
            continue
        pk = model._meta.pk
        try:
            keys = [pk.to_python(value) for value in ids]
        except Exception:  # an id the key field cannot read: shown by type and id
            continue
        # select_related(): names such as an order's read its instrument.
        for obj in model._default_manager.select_related().filter(pk__in=keys):
            try:
                url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[obj.pk])
            except NoReverseMatch:
                url = ""
            names[(object_type, str(obj.pk))] = (f"{model._meta.verbose_name.capitalize()}: {obj}", url)
    return names


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = ["created_at", "actor", "action", "object_name", "reason", "account", "via", "request_id"]
    list_filter = ["action", "object_type", "via", ("account", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["action", "object_id", "request_id", "actor__username", "account__code"]
    list_select_related = ["actor", "account"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    def get_queryset(self, request):
        # Desk-wide rows (the kill switch, users) are for the people who control the desk: those
        # who may engage the kill switch (the permission its service checks).
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        visible = scope_to_accounts(queryset, user=request.user, account_path="account")
        if request.user.has_perm("accounts.change_killswitch"):
            return queryset.filter(Q(pk__in=visible.values("pk")) | Q(account__isnull=True))
        return visible

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        names = audit_object_names(list(changelist.result_list))
        for entry in changelist.result_list:
            entry.named = names.get((entry.object_type, entry.object_id))
        return changelist

    @admin.display(description="Object")
    def object_name(self, entry: AuditLog):
        key = (entry.object_type, entry.object_id)
        found = entry.named if hasattr(entry, "named") else audit_object_names([entry]).get(key)
        if found is None:
            return f"{entry.object_type} #{entry.object_id}"
        name, url = found
        return format_html('<a href="{}">{}</a>', url, name) if url else name

    @admin.display(description="Reason")
    def reason(self, entry: AuditLog) -> str:
        return audit_reason(entry)
