"""The admin of the audit log: read-only, each entry with its reason and the name of what it changed.

An entry stores the changed object's type and id; the page names each object by its own ``str``
(one query per type on a page, not one per row) and shows the reason the change recorded.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin
from accounts.audit_names import audit_object_names, audit_reason
from accounts.exports import AUDIT_COLUMNS, audit_entries_for_user, name_entries
from accounts.models import AuditLog
from tradeconsole.csv_admin import CsvExportAdminMixin


@admin.register(AuditLog)
class AuditLogAdmin(CsvExportAdminMixin, ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = ["created_at", "actor", "action", "object_name", "reason", "account", "via", "request_id"]
    list_filter = ["action", "object_type", "via", ("account", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["action", "object_id", "request_id", "actor__username", "account__code"]
    list_select_related = ["actor", "account"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    csv_columns = AUDIT_COLUMNS
    csv_name = "audit-log"
    csv_select_related = ["actor", "account"]

    def get_queryset(self, request):
        # Their accounts' entries, and desk-wide ones for who may engage the kill switch (accounts.exports).
        return audit_entries_for_user(request.user, admin.ModelAdmin.get_queryset(self, request))

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        name_entries(list(changelist.result_list))
        return changelist

    def csv_per_chunk(self, entries: list[AuditLog]) -> None:
        # Each chunk of the export names its objects as a page does: one query per type.
        name_entries(entries)

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
