"""Admin pieces of scheduled orders: the next five firings and the dry-run action (mixed into
``orders.admin.ScheduledOrderAdmin``)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html_join

from orders import scheduling
from orders.models import ScheduledOrder
from orders.services import schedule_firing
from tradeconsole.exceptions import ApplicationError


def _local(moment, schedule: ScheduledOrder) -> str:
    local = moment.astimezone(scheduling.zone(schedule.time_zone))
    return f"{local:%a %Y-%m-%d %H:%M %Z}"


class ScheduledOrderAdminMixin:
    """Adds ``next_firing`` (list), ``next_five_firings`` (detail) and the ``dry_run_schedules`` action."""

    @admin.display(description="next firing")
    def next_firing(self, obj: ScheduledOrder) -> str:
        try:
            firings = scheduling.next_firings(obj, count=1)
        except ApplicationError as exc:
            return f"invalid: {exc.message}"
        if not firings:
            return "never"
        return _local(firings[0], obj) + ("" if obj.enabled else " (paused)")

    @admin.display(description="next five firings")
    def next_five_firings(self, obj: ScheduledOrder):
        if obj is None or obj.pk is None:
            return "-"
        try:
            firings = scheduling.next_firings(obj, count=5)
        except ApplicationError as exc:
            return f"invalid: {exc.message}"
        if not firings:
            return "none in the next two years"
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
