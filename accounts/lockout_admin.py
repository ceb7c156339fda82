"""The admin of sign-in lockouts: the failures django-axes counted, and clearing a lockout (audited).

Replaces axes' own admin, whose deletions write no audit row and which also lists every sign-in.
Superusers only: the rows name people and the addresses they came from. Imported by ``accounts.admin``.
"""

from __future__ import annotations

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import admin, messages

from accounts.lockouts import login_lockout_clear

VIA = "admin"


@admin.action(description="Clear the lockout of the selected user names")
def clear_user_names(modeladmin, request, queryset):
    names = sorted({attempt.username for attempt in queryset if attempt.username})
    forgotten = sum(login_lockout_clear(username=name, actor=request.user, via=VIA) for name in names)
    modeladmin.message_user(
        request, f"Cleared {len(names)} user name(s): {forgotten} failure(s) forgotten.", messages.SUCCESS
    )


@admin.action(description="Clear the lockout of the selected client addresses")
def clear_addresses(modeladmin, request, queryset):
    addresses = sorted({attempt.ip_address for attempt in queryset if attempt.ip_address})
    forgotten = sum(login_lockout_clear(ip_address=address, actor=request.user, via=VIA) for address in addresses)
    modeladmin.message_user(
        request, f"Cleared {len(addresses)} address(es): {forgotten} failure(s) forgotten.", messages.SUCCESS
    )


class LoginFailureAdmin(admin.ModelAdmin):
    """Failed sign-ins by user name, address and user agent; a name or an address whose failures
    within the cool-off reach the limit is locked out."""

    list_display = ("attempt_time", "username", "ip_address", "path_info", "failures_since_start", "user_agent")
    list_filter = ("path_info",)
    search_fields = ("username", "ip_address", "user_agent")
    date_hierarchy = "attempt_time"
    ordering = ("-attempt_time",)
    actions = [clear_user_names, clear_addresses]
    fields = ("username", "ip_address", "user_agent", "path_info", "failures_since_start", "attempt_time", "get_data")
    readonly_fields = fields

    def changelist_view(self, request, extra_context=None):
        limit, cool_off = settings.AXES_FAILURE_LIMIT, settings.AXES_COOLOFF_TIME
        extra_context = {
            **(extra_context or {}),
            "subtitle": f"Locked out: {limit} failures by one user name or from one address within {cool_off}.",
        }
        return super().changelist_view(request, extra_context)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # clearing goes through the audited service
        return actions

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


admin.site.register(AccessAttempt, LoginFailureAdmin)
