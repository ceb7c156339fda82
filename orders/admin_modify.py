"""The order admin's Modify page: a working order's quantity, prices and TIF changed through ``order_modify``.

Reached from the order's page (the "Modify" object tool, shown only for a modifiable order to someone who
may change orders) at ``<id>/modify/``. Only the changed values are sent; a refusal is shown on the field
it concerns with its code. The service writes the audit row; the broker's answer is on the order's page.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.admin_services import VIA
from orders.models import PRICE, QUANTITY, Order
from orders.modify_input import (
    MODIFY_TIF_CHOICES,
    MODIFY_TIFS,
    modify_changes,
    modify_fields,
    modify_initial,
    modify_offered,
    modify_pending_text,
)
from orders.services import order_modify
from tradeconsole.exceptions import ApplicationError

PERMISSION = "orders.change_order"


def _decimal(spec: dict, **kwargs) -> forms.DecimalField:
    return forms.DecimalField(max_digits=spec["max_digits"], decimal_places=spec["decimal_places"], **kwargs)


class OrderModifyForm(forms.Form):
    """The fields of ``order`` a modify may change, prefilled with what the order is asked to be."""

    quantity = _decimal(QUANTITY)
    limit_price = _decimal(PRICE, label="Limit price")
    stop_price = _decimal(PRICE, label="Stop price")
    tif = forms.ChoiceField(choices=MODIFY_TIF_CHOICES, label="Time in force")

    def __init__(self, *args, order: Order, **kwargs) -> None:
        super().__init__(*args, initial=modify_initial(order), **kwargs)
        self.order = order
        shown = modify_fields(order)
        for name in list(self.fields):
            if name not in shown:
                del self.fields[name]

    def modify(self, *, actor, via: str) -> Order | None:
        """Send what changed through ``order_modify``; on a refusal, put it on its field and return None."""
        try:
            changes = modify_changes(self.order, self.cleaned_data)
            return order_modify(order=self.order, actor=actor, via=via, **changes)
        except ApplicationError as exc:
            field = exc.field if exc.field in self.fields else None
            self.add_error(field, f"{exc.message} ({exc.code})")
            return None


class OrderModifyAdminMixin:
    """The order admin's ``<id>/modify/`` page and its object tool."""

    def get_urls(self):
        modify = path(
            "<path:object_id>/modify/", self.admin_site.admin_view(self.modify_view), name="orders_order_modify"
        )
        # Before the model's own URLs: their "<object_id>/" would take the rest for a change page.
        return [modify, *super().get_urls()]

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        order = self.get_object(request, unquote(object_id))
        extra = {}
        if order is not None:
            # Until the broker answers, the page says what the modify changes (as the blotter's row does).
            extra["modify_pending"] = modify_pending_text(order)
            if modify_offered(order) and request.user.has_perm(PERMISSION):
                extra["modify_url"] = reverse("admin:orders_order_modify", args=[order.pk])
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def modify_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Show the Modify form of one order of the user's accounts and send it through ``order_modify``."""
        order = self.get_object(request, unquote(object_id))
        if order is None:
            raise Http404("No such order on your accounts.")
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        change_url = reverse("admin:orders_order_change", args=[order.pk])
        if not modify_offered(order):
            why = "an IOC order" if order.tif not in MODIFY_TIFS else order.get_status_display().lower()
            self.message_user(request, f"{order} is {why}: it cannot be modified.", messages.WARNING)
            return HttpResponseRedirect(change_url)
        form = OrderModifyForm(request.POST or None, order=order)
        if request.method == "POST" and form.is_valid():
            modified = form.modify(actor=request.user, via=VIA)
            if modified is not None:
                self.message_user(request, _sent_text(modified), messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Modify {order}",
            "subtitle": str(order.client_order_id),
            "opts": self.opts,
            "original": order,
            "form": form,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/orders/order/modify_form.html", context)


def _sent_text(order: Order) -> str:
    if order.modify_requested_at is None:
        # The broker had not seen it yet: changed at once (its queued place carries the new values).
        return f"Order changed: {order}."
    return f"Modify sent to the broker for {order}; it shows as pending until the broker confirms it."
