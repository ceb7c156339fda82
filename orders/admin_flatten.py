"""The positions changelist's Flatten actions (the selected positions, or every position of their
accounts) and the kill switch page's "cancel and flatten" mode.

Each asks first (``accounts.admin.ask_reason``): the reason, market or limit at the quote, and a
hidden flatten id made when the page is shown, so posting the confirmation twice (a double
click) enters each closing order once (``orders.services.flatten``).
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages

from accounts.admin import VIA, KillSwitchAdmin, KillSwitchForm, ask_reason
from accounts.admin_services import each_through_service
from accounts.models import KillSwitch
from orders.services import account_flatten, kill_switch_cancel_and_flatten, position_flatten

ORDER_TYPE_CHOICES = [("MKT", "Market"), ("LMT", "Limit at the quote (bid to sell, ask to buy)")]


class FlattenForm(forms.Form):
    """What a Flatten action asks before it sends closing orders."""

    reason = forms.CharField(max_length=255, help_text="Kept in the audit log with the flatten.")
    order_type = forms.ChoiceField(choices=ORDER_TYPE_CHOICES, initial="MKT", widget=forms.RadioSelect)
    flatten_id = forms.UUIDField(widget=forms.HiddenInput)


def _flatten_form(request) -> FlattenForm:
    if "apply" in request.POST:
        return FlattenForm(request.POST)
    return FlattenForm(initial={"flatten_id": uuid.uuid4()})


def _sent(model_admin, request, outcomes: list) -> None:
    orders = sum(len(outcome.orders) for outcome in outcomes)
    for outcome in outcomes:
        for refused in outcome.refused:
            text = f"{refused['account']} {refused['symbol']}: {refused['detail']} ({refused['code']})"
            model_admin.message_user(request, text, messages.ERROR)
    if orders:
        model_admin.message_user(request, f"{orders} closing order(s) entered.", messages.SUCCESS)


class FlattenActionsMixin:
    """Flatten actions for ``PositionAdmin`` (Trader: ``orders.add_order``)."""

    def has_flatten_permission(self, request) -> bool:
        return request.user.has_perm("orders.add_order")

    @admin.action(description="Flatten the selected positions…", permissions=["flatten"])
    def flatten_positions(self, request, queryset):
        form = _flatten_form(request)
        positions = queryset.select_related("account", "instrument").exclude(quantity=0)
        if not (form.is_bound and form.is_valid()):
            intro = "Cancel the working orders of each position's instrument and close it:"
            return ask_reason(
                self, request, positions, form, action="flatten_positions", title="Flatten positions", intro=intro
            )
        data, outcomes = form.cleaned_data, []
        each_through_service(
            self,
            request,
            positions,
            lambda position: outcomes.append(position_flatten(position=position, actor=request.user, via=VIA, **data)),
        )
        _sent(self, request, outcomes)
        return None

    @admin.action(description="Flatten the accounts of the selected positions…", permissions=["flatten"])
    def flatten_accounts(self, request, queryset):
        form = _flatten_form(request)
        accounts = {position.account_id: position.account for position in queryset.select_related("account")}
        if not (form.is_bound and form.is_valid()):
            intro = "Close every open position of these accounts (their working orders in those instruments cancelled):"
            return ask_reason(
                self,
                request,
                queryset.select_related("account", "instrument"),
                form,
                action="flatten_accounts",
                title="Flatten accounts",
                intro=intro,
            )
        data, outcomes = form.cleaned_data, []
        each_through_service(
            self,
            request,
            accounts.values(),
            lambda account: outcomes.append(account_flatten(account=account, actor=request.user, via=VIA, **data)),
        )
        _sent(self, request, outcomes)
        return None


class KillSwitchFlattenForm(KillSwitchForm):
    """The kill switch's form with its "cancel and flatten" mode."""

    flatten = forms.BooleanField(
        required=False,
        label="Cancel and flatten",
        help_text="Also close every open position with a market order, the only orders let past the switch "
        "(every working order is cancelled).",
    )


class KillSwitchFlattenAdmin(KillSwitchAdmin):
    """The kill switch page, with the "cancel and flatten" mode (``kill_switch_cancel_and_flatten``)."""

    engage_form = KillSwitchFlattenForm

    def engage(self, request, data: dict) -> None:
        if not data.get("flatten"):
            super().engage(request, data)
            return
        outcome = kill_switch_cancel_and_flatten(actor=request.user, reason=data["reason"], via=VIA)
        _sent(self, request, [outcome])


# accounts imports no other app: the kill switch's page gains its flatten mode here.
admin.site.unregister(KillSwitch)
admin.site.register(KillSwitch, KillSwitchFlattenAdmin)
