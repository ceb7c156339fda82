"""The admin of instruments, orders and their history, fills, positions, risk limits and schedules.

Instruments are added, edited and retired through ``instrument_create`` / ``instrument_update``.

Orders are entered through ``orders.services.order_submit`` (``OrderEntryForm``), cancelled
through ``order_cancel`` and never edited; events, fills, positions and PnL points are records
the services keep, shown read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin import VIA, ask_reason, refusal_text
from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin, ReadOnlyInline
from accounts.admin_services import ServiceSaveMixin, form_changes
from orders import services
from orders.admin_brackets import bracket_add_view
from orders.forms import OrderEntryForm
from orders.models import (
    Fill,
    Instrument,
    Order,
    OrderEvent,
    PnLPoint,
    Position,
    PositionLot,
    RiskLimit,
    ScheduledOrder,
    ScheduledOrderRun,
)
from orders.scheduling_admin import ScheduledOrderAdminMixin
from orders.services import schedule_firing, schedules
from orders.transitions import CANCELLABLE_STATUSES, OPEN_STATUSES
from tradeconsole.exceptions import ApplicationError

ACCOUNT_FILTER = ("account", admin.RelatedOnlyFieldListFilter)


@admin.register(Instrument)
class InstrumentAdmin(ServiceSaveMixin, admin.ModelAdmin):
    list_display = [
        "symbol", "sec_type", "exchange", "primary_exchange", "currency", "con_id", "min_tick",
        "last_price", "last_price_at", "active",
    ]  # fmt: skip
    list_filter = ["active", "sec_type", "primary_exchange", "currency"]
    search_fields = ["symbol", "description", "=con_id"]
    # The reference price moves only with market data (``instrument_record_price``).
    readonly_fields = ["last_price", "last_price_at"]

    actions = ["deactivate_instruments", "activate_instruments"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # Orders and fills point at instruments; retire one by unticking "active".
        return False

    def service_create(self, request: HttpRequest, form) -> Instrument:
        fields = {name: form.cleaned_data[name] for name in services.INSTRUMENT_EDITABLE if name in form.cleaned_data}
        return services.instrument_create(actor=request.user, via=VIA, **fields)

    def service_update(self, request: HttpRequest, obj: Instrument, form) -> Instrument:
        changes = form_changes(form, services.INSTRUMENT_EDITABLE)
        return services.instrument_update(instrument=obj, actor=request.user, via=VIA, **changes)

    def _set_active(self, request: HttpRequest, queryset, active: bool, done: str) -> None:
        count = 0
        for instrument in queryset:
            try:
                services.instrument_update(instrument=instrument, actor=request.user, active=active, via=VIA)
            except ApplicationError as exc:
                self.message_user(request, f"{instrument}: {refusal_text(exc)}", messages.ERROR)
            else:
                count += 1
        if count:
            self.message_user(request, f"{count} instrument(s) {done}.", messages.SUCCESS)

    @admin.action(description="Retire the selected instruments (no new orders)", permissions=["change"])
    def deactivate_instruments(self, request: HttpRequest, queryset):
        self._set_active(request, queryset, False, "retired")

    @admin.action(description="Reactivate the selected instruments", permissions=["change"])
    def activate_instruments(self, request: HttpRequest, queryset):
        self._set_active(request, queryset, True, "reactivated")


# --- orders ----------------------------------------------------------------------------------


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    fields = ["created_at", "kind", "from_status", "to_status", "applied", "detail", "actor"]
    verbose_name_plural = "events"


class FillInline(ReadOnlyInline):
    model = Fill
    fields = ["exec_id", "executed_at", "side", "quantity", "price", "commission", "realized_pnl"]


class OpenFilter(admin.SimpleListFilter):
    """Open (not final) or final orders; the desk summary links here."""

    title = "open or final"
    parameter_name = "open"

    def lookups(self, request, model_admin):
        return [("1", "Open"), ("0", "Final")]

    def queryset(self, request, queryset):
        if self.value() == "1":
            return queryset.filter(status__in=OPEN_STATUSES)
        if self.value() == "0":
            return queryset.exclude(status__in=OPEN_STATUSES)
        return queryset


class RefusalForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Recorded as the order's reject reason and in the audit log.")


@admin.register(Order)
class OrderAdmin(AccountScopedAdmin):
    list_display = [
        "created_at", "account", "instrument", "side", "quantity", "order_type", "limit_price", "stop_price",
        "tif", "status", "filled_quantity", "average_fill_price", "source", "created_by",
    ]  # fmt: skip
    list_filter = [OpenFilter, "status", "side", "order_type", "source", ACCOUNT_FILTER]
    search_fields = ["client_order_id", "instrument__symbol", "account__code", "=ib_order_id", "=perm_id"]
    list_select_related = ["account", "instrument", "created_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [OrderEventInline, FillInline]
    actions = ["cancel_orders", "approve_orders", "refuse_orders"]
    add_form_template = "admin/orders/order/add_form.html"
    fieldsets = [
        (None, {"fields": ["client_order_id", "account", "instrument", "side", "quantity", "order_type",
                           "limit_price", "stop_price", "tif", "outside_rth"]}),
        ("State", {"fields": ["status", "broker_status", "filled_quantity", "average_fill_price",
                              "reject_code", "reject_reason", "ib_order_id", "perm_id"]}),
        ("Origin", {"fields": ["source", "trading_session", "parent", "oca_group", "not_before", "created_by",
                               "created_at", "submitted_at", "completed_at", "updated_at"]}),
    ]  # fmt: skip

    def has_change_permission(self, request, obj=None) -> bool:
        # An entered order is changed only by services (cancel action, broker events).
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        # The permission ``order_cancel`` itself requires.
        return request.user.has_perm("orders.change_order")

    @admin.action(description="Cancel the selected orders", permissions=["cancel"])
    def cancel_orders(self, request: HttpRequest, queryset):
        cancelled = 0
        for order in queryset.select_related("account", "instrument"):
            if order.status not in CANCELLABLE_STATUSES:
                self.message_user(request, f"{order}: already final, nothing to cancel.", messages.WARNING)
                continue
            try:
                services.order_cancel(order=order, actor=request.user, reason="Cancelled from the admin", via=VIA)
            except ApplicationError as exc:
                self.message_user(request, f"{order}: {refusal_text(exc)}", messages.ERROR)
            else:
                cancelled += 1
        if cancelled:
            self.message_user(request, f"Cancel requested for {cancelled} order(s).", messages.SUCCESS)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        # The permission ``order_approve`` and ``order_approval_refuse`` require (Risk managers).
        return request.user.has_perm("orders.approve_order")

    @admin.action(description="Approve the selected orders awaiting approval", permissions=["approve"])
    def approve_orders(self, request: HttpRequest, queryset):
        approved = 0
        for order in queryset.select_related("account", "instrument"):
            try:
                services.order_approve(order=order, actor=request.user, via=VIA)
            except ApplicationError as exc:
                self.message_user(request, f"{order}: {refusal_text(exc)}", messages.ERROR)
            else:
                approved += 1
        if approved:
            self.message_user(request, f"{approved} order(s) approved and queued for the broker.", messages.SUCCESS)

    @admin.action(description="Refuse the selected orders awaiting approval", permissions=["approve"])
    def refuse_orders(self, request: HttpRequest, queryset):
        form = RefusalForm(request.POST if "apply" in request.POST else None)
        if not (form.is_bound and form.is_valid()):
            intro = "These orders will be rejected and never sent to the broker:"
            return ask_reason(self, request, queryset, form, action="refuse_orders", title="Refuse orders", intro=intro)
        refused = 0
        for order in queryset.select_related("account", "instrument"):
            try:
                services.order_approval_refuse(
                    order=order, actor=request.user, reason=form.cleaned_data["reason"], via=VIA
                )
            except ApplicationError as exc:
                self.message_user(request, f"{order}: {refusal_text(exc)}", messages.ERROR)
            else:
                refused += 1
        if refused:
            self.message_user(request, f"{refused} order(s) refused.", messages.SUCCESS)
        return None

    def get_urls(self):
        from django.urls import path

        bracket = path(
            "add-bracket/",
            self.admin_site.admin_view(lambda request: bracket_add_view(self, request, via=VIA)),
            name="orders_order_add_bracket",
        )
        return [bracket, *super().get_urls()]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None):
        """Show ``OrderEntryForm`` and enter the order through ``order_submit`` (never a model save)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            form = OrderEntryForm(request.POST, user=request.user)
            if form.is_valid():
                already = Order.objects.filter(client_order_id=form.cleaned_data["client_order_id"]).exists()
                # Only the confirmation step's own button sends it; Save again asks again.
                confirm = bool(request.POST.get("confirm_duplicate"))
                try:
                    order = form.submit(actor=request.user, via=VIA, confirm_duplicate=confirm)
                except ApplicationError:
                    pass  # the refusal is on the form now (a duplicate: in form.duplicate)
                else:
                    return self._entered(request, order, already=already)
        else:
            form = OrderEntryForm(user=request.user)
        fieldsets = [(None, {"fields": list(form.fields)})]
        admin_form = helpers.AdminForm(form, fieldsets, {}, model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": "Enter an order",
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            "show_save_and_add_another": False,
            "show_save_and_continue": False,
            **self._duplicate_context(form),
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, change=False, form_url=form_url)

    @staticmethod
    def _duplicate_context(form: OrderEntryForm) -> dict:
        if form.duplicate is None:
            return {}
        earlier = form.duplicate.earlier
        return {
            "duplicate": form.duplicate,
            "duplicate_seconds": int((timezone.now() - earlier.created_at).total_seconds()),
        }

    def _entered(self, request: HttpRequest, order: Order, *, already: bool) -> HttpResponseRedirect:
        if already:
            self.message_user(
                request, f"This form was already sent: order {order.client_order_id} exists.", messages.WARNING
            )
        else:
            self.message_user(request, f"Order entered: {order} — {order.client_order_id}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    account_path = "order__account"
    list_display = ["created_at", "order_link", "kind", "from_status", "to_status", "applied", "detail", "actor"]
    list_filter = ["kind", "applied", "to_status"]
    search_fields = ["order__client_order_id", "=message_id", "detail"]
    list_select_related = ["order__account", "order__instrument", "actor"]
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="order")
    def order_link(self, event: OrderEvent) -> str:
        url = reverse("admin:orders_order_change", args=[event.order_id])
        return format_html('<a href="{}">{} {}</a>', url, event.order.account, event.order)


@admin.register(Fill)
class FillAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = [
        "executed_at", "exec_id", "account", "instrument", "side", "quantity", "price", "commission",
        "realized_pnl", "order",
    ]  # fmt: skip
    list_filter = ["side", ACCOUNT_FILTER]
    search_fields = ["=exec_id", "instrument__symbol", "account__code", "order__client_order_id"]
    list_select_related = ["account", "instrument", "order__instrument"]
    date_hierarchy = "executed_at"
    show_full_result_count = False


class PositionLotInline(ReadOnlyInline):
    model = PositionLot
    fields = ["opened_at", "quantity", "price", "fill"]
    verbose_name_plural = "open FIFO lots"


@admin.register(Position)
class PositionAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = [
        "account", "instrument", "quantity", "average_cost", "realized_pnl", "broker_quantity", "broker_reported_at",
        "updated_at",
    ]  # fmt: skip
    list_filter = [ACCOUNT_FILTER]
    search_fields = ["instrument__symbol", "account__code"]
    list_select_related = ["account", "instrument"]
    inlines = [PositionLotInline]


@admin.register(PnLPoint)
class PnLPointAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = ["at", "account", "realized_pnl", "unrealized_pnl", "total_pnl"]
    list_filter = [ACCOUNT_FILTER]
    list_select_related = ["account"]
    date_hierarchy = "at"
    show_full_result_count = False


# --- risk limits ---------------------------------------------------------------------------------


class RiskLimitForm(forms.ModelForm):
    """The limits ``risk_limit_update`` accepts, checked here the way the service checks them."""

    class Meta:
        model = RiskLimit
        fields = ["account", *services.RISK_LIMIT_FIELDS, "allowed_instruments", *services.RISK_POLICY_FIELDS]

    def clean(self):
        cleaned = super().clean()
        for name in (*services.RISK_LIMIT_FIELDS, *services.RISK_POLICY_FIELDS):
            value = cleaned.get(name)
            if value is not None and not isinstance(value, str) and value < 0:
                self.add_error(name, "Must be zero or more.")
        return cleaned


@admin.register(RiskLimit)
class RiskLimitAdmin(AccountScopedAdmin):
    """Risk managers edit limits here; every save goes through ``risk_limit_update``, which publishes them."""

    form = RiskLimitForm
    list_display = ["account", *services.RISK_LIMIT_FIELDS, "updated_at"]
    list_select_related = ["account"]
    search_fields = ["account__code"]
    filter_horizontal = ["allowed_instruments"]

    fieldsets = [
        (None, {"fields": ["account", *services.RISK_LIMIT_FIELDS, "allowed_instruments"]}),
        (
            "Approval and monitoring",
            {
                "fields": list(services.RISK_POLICY_FIELDS),
                "description": "Not sent to the worker: order entry and the monitoring loop read them.",
            },
        ),
        (None, {"fields": ["updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return ["account", "updated_at"] if obj is not None else ["updated_at"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # No row means the model's defaults; deleting would silently loosen an account's limits.
        return False

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Django wraps the view in a transaction, so a refusal raised by the service in
        # save_model rolls back everything; show it and let the user try again.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApplicationError as exc:
            self.message_user(request, refusal_text(exc), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj: RiskLimit, form, change: bool) -> None:
        limits = (*services.RISK_LIMIT_FIELDS, *services.RISK_POLICY_FIELDS)
        names = [name for name in form.changed_data if name in limits] if change else list(limits)
        changes = {name: form.cleaned_data[name] for name in names}
        if not change or "allowed_instruments" in form.changed_data:
            changes["allowed_instruments"] = list(form.cleaned_data["allowed_instruments"])
        saved = services.risk_limit_update(risk_limit=obj, actor=request.user, via=VIA, **changes)
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change: bool) -> None:
        # The service already stored the allowed instruments.
        return None


# --- scheduled orders ---------------------------------------------------------------------------


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
        count = 0
        for schedule in queryset.select_related("account"):
            try:
                service(schedule=schedule, actor=request.user, via=VIA)
            except ApplicationError as exc:
                self.message_user(request, f"{schedule}: {refusal_text(exc)}", messages.ERROR)
            else:
                count += 1
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
