"""The admin's bracket entry: an entry order with its take-profit and stop-loss (``orders.services.brackets``)."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from orders.admin_entry import entry_page
from orders.forms import EntryForm
from orders.models import PRICE, QUANTITY, Instrument, OrderType, Side, TimeInForce
from orders.services import bracket_submit
from tradeconsole.exceptions import ApplicationError


def _price(**kwargs) -> forms.DecimalField:
    return forms.DecimalField(max_digits=PRICE["max_digits"], decimal_places=PRICE["decimal_places"], **kwargs)


class BracketEntryForm(EntryForm):
    """Enter a bracket for one of the user's accounts; the id is posted back hidden (a double post is one bracket)."""

    client_order_id = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)
    account = forms.ModelChoiceField(queryset=None)
    instrument = forms.ModelChoiceField(queryset=Instrument.objects.filter(active=True).order_by("symbol"))
    side = forms.ChoiceField(choices=Side.choices, help_text="The entry's side; the exits take the other.")
    quantity = forms.DecimalField(max_digits=QUANTITY["max_digits"], decimal_places=QUANTITY["decimal_places"])
    order_type = forms.ChoiceField(
        choices=[(OrderType.LIMIT, "Limit"), (OrderType.MARKET, "Market"), (OrderType.STOP, "Stop")],
        initial=OrderType.LIMIT,
        label="Entry type",
    )
    limit_price = _price(required=False, label="Entry limit price")
    stop_price = _price(required=False, label="Entry stop price")
    take_profit_price = _price(label="Take-profit (limit) price")
    stop_loss_price = _price(label="Stop-loss (stop) price")
    tif = forms.ChoiceField(choices=TimeInForce.choices, initial=TimeInForce.DAY, label="Time in force")

    def submit(self, *, actor, via: str, confirm_duplicate: bool = False):
        """Enter the bracket through ``bracket_submit``; a refusal is put on the form and re-raised.

        :raises ApplicationError: the service refused it (``OrderPossibleDuplicate``: in ``duplicate``).
        """
        data = self.cleaned_data
        return self.enter(
            bracket_submit,
            actor=actor,
            via=via,
            account=data["account"],
            instrument=data["instrument"],
            side=data["side"],
            quantity=data["quantity"],
            order_type=data["order_type"],
            limit_price=data["limit_price"],
            stop_price=data["stop_price"],
            take_profit_price=data["take_profit_price"],
            stop_loss_price=data["stop_loss_price"],
            tif=data["tif"],
            client_order_id=data["client_order_id"],
            confirm_duplicate=confirm_duplicate,
        )


def bracket_add_view(model_admin, request: HttpRequest, *, via: str):
    """Show ``BracketEntryForm`` on the order admin and enter the bracket (never a model save)."""
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    if request.method == "POST":
        form = BracketEntryForm(request.POST, user=request.user)
        if form.is_valid():
            confirm = bool(request.POST.get("confirm_duplicate"))
            try:
                bracket = form.submit(actor=request.user, via=via, confirm_duplicate=confirm)
            except ApplicationError:
                pass
            else:
                model_admin.message_user(
                    request,
                    f"Bracket entered: entry {bracket.entry.client_order_id}, take-profit "
                    f"{bracket.take_profit.client_order_id}, stop-loss {bracket.stop_loss.client_order_id}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[bracket.entry.pk]))
    else:
        form = BracketEntryForm(user=request.user)
    return entry_page(model_admin, request, form, title="Enter a bracket (entry, take-profit, stop-loss)")
