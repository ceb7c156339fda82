"""The admin of alerts: the desk's alerts, acknowledged and resolved through ``accounts.services`` (audited).

A position mismatch is acknowledged only by a Risk manager, through its own action. Imported by
``accounts.admin``.
"""

from __future__ import annotations

from django.contrib import admin, messages

from accounts import services
from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin
from accounts.admin_services import VIA, each_through_service, refusal_text
from accounts.models import Alert, Role
from accounts.selectors import user_has_role

POSITION_MISMATCH = "position.mismatch"


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    # Alerts change state only through the acknowledge and resolve actions.
    include_unassigned = True  # desk-wide alerts (the gateway is down) concern everyone
    list_display = ["raised_at", "severity", "status", "kind", "account", "message", "acknowledged_by"]
    list_filter = ["status", "severity", "kind", ("account", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["key", "message", "account__code"]
    list_select_related = ["account", "acknowledged_by"]
    date_hierarchy = "raised_at"
    show_full_result_count = False
    actions = ["acknowledge", "acknowledge_position_mismatch", "resolve"]
    readonly_fields = [
        "key", "kind", "severity", "status", "account", "message", "data",
        "raised_at", "acknowledged_at", "acknowledged_by", "resolved_at",
    ]  # fmt: skip

    def has_handle_permission(self, request) -> bool:
        return request.user.has_perm("accounts.change_alert")

    def get_actions(self, request):
        actions = super().get_actions(request)
        # A position mismatch is a Risk manager's to acknowledge (position_mismatch_acknowledge says why).
        if not user_has_role(request.user, Role.RISK_MANAGER):
            actions.pop("acknowledge_position_mismatch", None)
        return actions

    def _each(self, request, alerts, service, *, refusal=refusal_text) -> int:
        """Call ``service`` on each of ``alerts`` as the user, reporting each refusal; return how many it took."""
        return each_through_service(
            self, request, alerts, lambda alert: service(alert=alert, actor=request.user, via=VIA), refusal=refusal
        )

    @admin.action(description="Acknowledge the selected alerts", permissions=["handle"])
    def acknowledge(self, request, queryset):
        alerts = []
        for alert in queryset:
            if alert.kind == POSITION_MISMATCH:
                self.message_user(
                    request, f"{alert}: use “Acknowledge the selected position mismatches”.", messages.WARNING
                )
            else:
                alerts.append(alert)
        done = self._each(request, alerts, services.alert_acknowledge)
        if done:
            self.message_user(request, f"{done} alert(s) acknowledged.", messages.SUCCESS)

    @admin.action(description="Acknowledge the selected position mismatches (Risk manager)")
    def acknowledge_position_mismatch(self, request, queryset):
        done = self._each(
            request,
            queryset.select_related("account"),
            services.position_mismatch_acknowledge,
            refusal=lambda exc: exc.message,
        )
        if done:
            self.message_user(
                request,
                f"{done} mismatch(es) acknowledged; resume each account once its positions agree.",
                messages.SUCCESS,
            )

    @admin.action(description="Resolve the selected alerts", permissions=["handle"])
    def resolve(self, request, queryset):
        done = self._each(request, queryset, services.alert_resolve)
        if done:
            self.message_user(request, f"{done} alert(s) resolved.", messages.SUCCESS)
