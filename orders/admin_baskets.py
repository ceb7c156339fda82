"""Baskets in the admin: read-only, with their orders inline and the "Cancel the selected baskets…"
action (a reason asked first; ``orders.services.basket_cancel``). Baskets are sent from the
Baskets live page or the API, never added here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q

from accounts.admin import VIA, ask_reason
from accounts.admin_scoping import AccountScopedAdmin, ReadOnlyAdminMixin, ReadOnlyInline
from accounts.admin_services import each_through_service
from orders.models import Basket, Order, OrderStatus
from orders.services import basket_cancel
from orders.transitions import OPEN_STATUSES


class BasketOrderInline(ReadOnlyInline):
    model = Order
    fields = ["client_order_id", "instrument", "side", "quantity", "order_type", "limit_price", "status",
              "filled_quantity", "average_fill_price"]  # fmt: skip
    verbose_name_plural = "orders"
    show_change_link = True


class BasketCancelForm(forms.Form):
    reason = forms.CharField(max_length=255, help_text="Kept in the audit log, and sent with each order's cancel.")


@admin.register(Basket)
class BasketAdmin(ReadOnlyAdminMixin, AccountScopedAdmin):
    list_display = ["created_at", "name", "account", "status", "progress", "created_by"]
    list_filter = ["status", "account"]
    search_fields = ["name", "client_basket_id", "account__code"]
    list_select_related = ["account", "created_by"]
    readonly_fields = ["client_basket_id", "name", "account", "status", "created_by", "created_at", "progress"]
    fields = readonly_fields
    inlines = [BasketOrderInline]
    actions = ["cancel_baskets"]
    show_full_result_count = False

    def get_queryset(self, request):
        # Each row's progress counted in the list's own query, not one query per row.
        return (
            super()
            .get_queryset(request)
            .annotate(
                order_count=Count("orders"),
                filled_count=Count("orders", filter=Q(orders__status=OrderStatus.FILLED)),
                working_count=Count("orders", filter=Q(orders__status__in=OPEN_STATUSES)),
            )
        )

    @admin.display(description="progress")
    def progress(self, basket: Basket) -> str:
        return f"{basket.filled_count} of {basket.order_count} filled, {basket.working_count} working"

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("orders.change_order")

    @admin.action(description="Cancel the selected baskets…", permissions=["cancel"])
    def cancel_baskets(self, request, queryset):
        form = BasketCancelForm(request.POST) if "apply" in request.POST else BasketCancelForm()
        baskets = queryset.select_related("account")
        if not (form.is_bound and form.is_valid()):
            intro = "Cancel every working order of these baskets:"
            return ask_reason(
                self, request, baskets, form, action="cancel_baskets", title="Cancel baskets", intro=intro
            )
        outcomes = []

        def cancel(basket):
            outcomes.append(
                basket_cancel(actor=request.user, basket=basket, reason=form.cleaned_data["reason"], via=VIA)
            )

        each_through_service(self, request, baskets, cancel)
        for outcome in outcomes:
            for refused in outcome.refused:
                self.message_user(request, f"{outcome.basket}: {refused['detail']} ({refused['code']})", messages.ERROR)
        cancelled = sum(len(outcome.cancelled) for outcome in outcomes)
        if outcomes:
            self.message_user(
                request, f"{cancelled} order(s) of {len(outcomes)} basket(s) cancelled.", messages.SUCCESS
            )
        return None
