"""The admin of orders and their events.

Orders are entered through ``orders.services.order_submit`` (``OrderEntryForm``; brackets in
``admin_brackets``), cancelled, approved and refused through the amend services, and never
edited; their events are records the services keep, shown read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin import VIA, ask_reason
from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin, ReadOnlyInline
from accounts.admin_services import each_through_service
from orders import services
from orders.admin_brackets import bracket_add_view
from orders.admin_decisions import decision_html
from orders.admin_entry import entry_page
from orders.admin_modify import OrderModifyAdminMixin
from orders.exports import ORDER_COLUMNS
from orders.forms import OrderEntryForm
from orders.models import Fill, Order, OrderEvent
from orders.transitions import CANCELLABLE_STATUSES, OPEN_STATUSES
from tradeconsole.csv_admin import CsvExportAdminMixin

# The account filter of every table of an account's rows: only the accounts that have some.
ACCOUNT_FILTER = ("account", admin.RelatedOnlyFieldListFilter)


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
class OrderAdmin(OrderModifyAdminMixin, CsvExportAdminMixin, AccountScopedAdmin):
    # The status first after the time: at 1,024 px, beside the sidebars, the later columns scroll (issue 22).
    list_display = [
        "created_at", "status", "account", "instrument", "side", "quantity", "order_type", "limit_price",
        "filled_quantity", "average_fill_price", "stop_price", "tif", "source", "created_by",
    ]  # fmt: skip
    list_filter = [OpenFilter, "status", "side", "order_type", "source", ACCOUNT_FILTER]
    search_fields = ["client_order_id", "instrument__symbol", "account__code", "=ib_order_id", "=perm_id"]
    list_select_related = ["account", "instrument", "created_by"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [OrderEventInline, FillInline]
    actions = ["cancel_orders", "approve_orders", "refuse_orders"]
    add_form_template = "admin/orders/order/add_form.html"
    csv_columns = ORDER_COLUMNS
    csv_name = "orders"
    csv_select_related = ["account", "instrument", "created_by", "trading_session__strategy"]
    fieldsets = [
        (None, {"fields": ["client_order_id", "account", "instrument", "side", "quantity", "order_type",
                           "limit_price", "stop_price", "tif", "outside_rth"]}),
        ("State", {"fields": ["status", "broker_status", "filled_quantity", "average_fill_price",
                              "reject_code", "reject_reason", "ib_order_id", "perm_id"]}),
        ("Origin", {"fields": ["source", "trading_session", "basket", "parent", "oca_group", "not_before", "created_by",
                               "created_at", "submitted_at", "completed_at", "updated_at"]}),
    ]  # fmt: skip
    readonly_fields = ["decision"]

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.trading_session_id:
            # A strategy's order says which decision placed it, and why.
            fieldsets = [*fieldsets, ("Strategy decision", {"fields": ["decision"]})]
        return fieldsets

    @admin.display(description="Decision")
    def decision(self, order: Order):
        return decision_html(order)

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
        cancellable = []
        for order in queryset.select_related("account", "instrument"):
            if order.status in CANCELLABLE_STATUSES:
                cancellable.append(order)
            else:
                self.message_user(request, f"{order}: already final, nothing to cancel.", messages.WARNING)
        cancelled = each_through_service(
            self,
            request,
            cancellable,
            lambda order: services.order_cancel(
                order=order, actor=request.user, reason="Cancelled from the admin", via=VIA
            ),
        )
        if cancelled:
            self.message_user(request, f"Cancel requested for {cancelled} order(s).", messages.SUCCESS)

    def has_approve_permission(self, request: HttpRequest) -> bool:
        # The permission ``order_approve`` and ``order_approval_refuse`` require (Risk managers).
        return request.user.has_perm("orders.approve_order")

    @admin.action(description="Approve the selected orders awaiting approval", permissions=["approve"])
    def approve_orders(self, request: HttpRequest, queryset):
        approved = each_through_service(
            self,
            request,
            queryset.select_related("account", "instrument"),
            lambda order: services.order_approve(order=order, actor=request.user, via=VIA),
        )
        if approved:
            self.message_user(request, f"{approved} order(s) approved and queued for the broker.", messages.SUCCESS)

    @admin.action(description="Refuse the selected orders awaiting approval", permissions=["approve"])
    def refuse_orders(self, request: HttpRequest, queryset):
        form = RefusalForm(request.POST if "apply" in request.POST else None)
        if not (form.is_bound and form.is_valid()):
            intro = "These orders will be rejected and never sent to the broker:"
            return ask_reason(self, request, queryset, form, action="refuse_orders", title="Refuse orders", intro=intro)
        refused = each_through_service(
            self,
            request,
            queryset.select_related("account", "instrument"),
            lambda order: services.order_approval_refuse(
                order=order, actor=request.user, reason=form.cleaned_data["reason"], via=VIA
            ),
        )
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
                order, already = form.submit_posted(actor=request.user, via=VIA)
                if order is not None:
                    return self._entered(request, order, already=already)
        else:
            form = OrderEntryForm(user=request.user)
        return entry_page(self, request, form, title="Enter an order", form_url=form_url, extra_context=extra_context)

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
