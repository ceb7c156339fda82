"""The admin of scheduled orders: templates written through ``orders.services.schedules``, paused,
resumed and dry-run through ``orders.services.schedule_firing`` (all audited), with their next
firings; their runs are shown read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html_join

from accounts.admin import VIA
from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin, ReadOnlyInline
from accounts.admin_services import ServiceSaveMixin, each_through_service, form_changes
from orders import scheduling
from orders.admin_orders import ACCOUNT_FILTER
from orders.models import ScheduledOrder, ScheduledOrderRun
from orders.services import schedule_firing, schedules
from tradeconsole.exceptions import ApplicationError


def _local(moment, schedule: ScheduledOrder) -> str:
    local = moment.astimezone(scheduling.zone(schedule.time_zone))
    return f"{local:%a %Y-%m-%d %H:%M %Z}"


def _firings(schedule: ScheduledOrder, *, count: int) -> list | str:
    """The schedule's next ``count`` firings, or why it has none (``invalid: …``) when it is invalid."""
    try:
        return scheduling.next_firings(schedule, count=count)
    except ApplicationError as exc:
        return f"invalid: {exc.message}"


class ScheduledOrderAdminMixin:
    """The schedule admin's ``next_firing`` (list), ``next_five_firings`` (detail) and dry-run action."""

    @admin.display(description="next firing")
    def next_firing(self, obj: ScheduledOrder) -> str:
        firings = _firings(obj, count=1)
        if isinstance(firings, str) or not firings:
            return firings or "never"
        return _local(firings[0], obj) + ("" if obj.enabled else " (paused)")

    @admin.display(description="next five firings")
    def next_five_firings(self, obj: ScheduledOrder):
        if obj is None or obj.pk is None:
            return "-"
        firings = _firings(obj, count=5)
        if isinstance(firings, str) or not firings:
            return firings or "none in the next two years"
        return format_html_join(
            "",
            "<div>{} <small>({} UTC)</small></div>",
            ((_local(f, obj), f"{f:%Y-%m-%d %H:%M}") for f in firings),
        )

    @admin.action(description="Dry run: show the next firings and check the order now")
    def dry_run_schedules(self, request, queryset):
        for schedule in queryset.select_related("account", "instrument"):
            try:
                result = schedule_firing.scheduled_order_dry_run(
                    schedule=schedule, actor=request.user, now=timezone.now()
                )
            except ApplicationError as exc:
                self.message_user(request, f"{schedule}: {exc.message}", messages.ERROR)
                continue
            when = ", ".join(_local(f, schedule) for f in result.next_firings) or "never"
            verdict = (
                "would be accepted now" if result.accepted else f"would be refused ({result.code}: {result.message})"
            )
            level = messages.SUCCESS if result.accepted else messages.WARNING
            self.message_user(request, f"{schedule}: next firings {when}; the order {verdict}.", level)


class ScheduledOrderRunInline(ReadOnlyInline):
    model = ScheduledOrderRun
    fields = ["trading_date", "due_at", "status", "order", "detail"]
    ordering = ["-due_at"]
    verbose_name_plural = "recent runs"


@admin.register(ScheduledOrder)
class ScheduledOrderAdmin(ServiceSaveMixin, ScheduledOrderAdminMixin, AccountScopedAdmin):
    """Schedule templates, written through ``orders.services.schedules``; pausing and resuming go through
    ``orders.services.schedule_firing`` (all audited)."""

    list_display = [
        "name", "account", "instrument", "side", "quantity", "order_type", "time_of_day", "time_zone", "weekdays",
        "enabled", "next_firing",
    ]  # fmt: skip
    list_filter = ["enabled", ACCOUNT_FILTER]
    search_fields = ["name", "instrument__symbol", "account__code"]
    list_select_related = ["account", "instrument"]
    autocomplete_fields = ["instrument"]
    inlines = [ScheduledOrderRunInline]
    actions = ["pause_schedules", "resume_schedules", "dry_run_schedules"]

    def get_readonly_fields(self, request, obj=None):
        fields = ["created_by", "created_at", "next_five_firings"]
        return [*fields, "enabled"] if obj is not None else fields

    def has_delete_permission(self, request, obj=None) -> bool:
        # Runs and their orders point at the schedule; pause it instead.
        return False

    def service_create(self, request: HttpRequest, form) -> ScheduledOrder:
        fields = {name: form.cleaned_data[name] for name in schedules.EDITABLE_FIELDS if name in form.cleaned_data}
        return schedules.scheduled_order_create(
            actor=request.user, account=form.cleaned_data["account"], via=VIA, **fields
        )

    def service_update(self, request: HttpRequest, obj: ScheduledOrder, form) -> ScheduledOrder:
        changes = form_changes(form, schedules.EDITABLE_FIELDS)
        return schedules.scheduled_order_update(schedule=obj, actor=request.user, via=VIA, **changes)

    def has_pause_permission(self, request) -> bool:
        return request.user.has_perm("orders.change_scheduledorder")

    def _toggle(self, request, queryset, service, done: str) -> None:
        schedules = queryset.select_related("account")
        count = each_through_service(
            self, request, schedules, lambda schedule: service(schedule=schedule, actor=request.user, via=VIA)
        )
        if count:
            self.message_user(request, f"{count} schedule(s) {done}.", messages.SUCCESS)

    @admin.action(description="Pause the selected schedules", permissions=["pause"])
    def pause_schedules(self, request, queryset):
        self._toggle(request, queryset, schedule_firing.scheduled_order_pause, "paused")

    @admin.action(description="Resume the selected schedules", permissions=["pause"])
    def resume_schedules(self, request, queryset):
        self._toggle(request, queryset, schedule_firing.scheduled_order_resume, "resumed")


@admin.register(ScheduledOrderRun)
class ScheduledOrderRunAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    account_path = "schedule__account"
    list_display = ["due_at", "schedule", "trading_date", "status", "order", "detail"]
    list_filter = ["status"]
    search_fields = ["schedule__name"]
    list_select_related = ["schedule", "order__instrument"]
    date_hierarchy = "due_at"
    show_full_result_count = False
