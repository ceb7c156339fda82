"""The order-entry form of the admin: it parses input and hands it to ``orders.services.order_submit``."""

from __future__ import annotations

import uuid

from django import forms

from accounts.selectors import accounts_for_user
from orders import services
from orders.exceptions import OrderPossibleDuplicate
from orders.models import PRICE, QUANTITY, Instrument, Order, OrderSource, OrderType, Side, TimeInForce
from orders.services import duplicate_refusals_audited
from tradeconsole.exceptions import ApplicationError


class EntryForm(forms.Form):
    """What every order-entry form of the admin shares: the accounts the user may trade, and one way
    to hand the cleaned input to an entry service and bring its refusals back onto the form."""

    duplicate: OrderPossibleDuplicate | None = None

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        accounts = accounts_for_user(user).order_by("code")
        self.fields["account"].queryset = accounts
        if len(accounts) == 1:
            self.fields["account"].initial = accounts[0].pk

    def enter(self, service, *, actor, via: str, **fields):
        """Call ``service`` (``order_submit``, ``bracket_submit``) with ``fields``, auditing a duplicate
        refusal; on a refusal, record it on the form and re-raise.

        :raises OrderPossibleDuplicate: a recent identical entry needs a confirmation (in ``duplicate``).
        :raises ApplicationError: the service refused the entry (the form now carries the error).
        """
        try:
            with duplicate_refusals_audited(actor=actor, via=via):
                return service(actor=actor, via=via, source=OrderSource.ADMIN, **fields)
        except OrderPossibleDuplicate as exc:
            # Not an error of the form: a question, asked above it (the admin's confirmation step).
            self.duplicate = exc
            raise
        except ApplicationError as exc:
            self.add_refusal(exc)
            raise

    def add_refusal(self, exc: ApplicationError) -> None:
        """Show a domain refusal on the field it names, or above the form when it names none."""
        # A refusal about a hidden field (the client order id) must be visible above the form.
        field = exc.field if exc.field in self.fields and not self[exc.field].is_hidden else None
        self.add_error(field, f"{exc.message} ({exc.code})")


class OrderEntryForm(EntryForm):
    """Enter one order for one of the user's accounts.

    ``client_order_id`` is generated when the form is rendered and posted back hidden, so the
    same form posted twice (a double click, a browser retry) reaches ``order_submit`` with the
    same id and creates one order. The form checks only types and choices; every rule of the
    desk (quantity, tick, limits, halts) is the service's, and its refusals come back as errors
    on the field they concern. The same order entered again (Back, then Save: a new id) is
    refused as a possible duplicate until confirmed; ``duplicate`` then holds the refusal.
    """

    client_order_id = forms.UUIDField(widget=forms.HiddenInput, initial=uuid.uuid4)
    account = forms.ModelChoiceField(queryset=None)
    instrument = forms.ModelChoiceField(queryset=Instrument.objects.filter(active=True).order_by("symbol"))
    side = forms.ChoiceField(choices=Side.choices)
    quantity = forms.DecimalField(max_digits=QUANTITY["max_digits"], decimal_places=QUANTITY["decimal_places"])
    order_type = forms.ChoiceField(choices=OrderType.choices, initial=OrderType.LIMIT)
    limit_price = forms.DecimalField(
        required=False, max_digits=PRICE["max_digits"], decimal_places=PRICE["decimal_places"]
    )
    stop_price = forms.DecimalField(
        required=False, max_digits=PRICE["max_digits"], decimal_places=PRICE["decimal_places"]
    )
    tif = forms.ChoiceField(choices=TimeInForce.choices, initial=TimeInForce.DAY, label="Time in force")
    outside_rth = forms.BooleanField(required=False, label="Outside regular trading hours")

    def submit_posted(self, *, actor, via: str) -> tuple[Order | None, bool]:
        """Enter the validated, posted order once; return it (None when refused) and whether it existed.

        The form's id was entered already (a double post) when the second value is True: the
        service then returns that order and nothing new is written. A duplicate is confirmed only
        by the confirmation step's own button (``confirm_duplicate`` posted), so posting the form
        again asks again. A refusal is on the form (a duplicate: in ``duplicate``), never raised.
        """
        already = Order.objects.filter(client_order_id=self.cleaned_data["client_order_id"]).exists()
        confirm = bool(self.data.get("confirm_duplicate"))
        try:
            return self.submit(actor=actor, via=via, confirm_duplicate=confirm), already
        except ApplicationError:
            return None, already

    def submit(self, *, actor, via: str = "admin", confirm_duplicate: bool = False) -> Order:
        """Enter the order through ``order_submit``; on a refusal, record it on the form and re-raise.

        ``confirm_duplicate``: the person confirmed placing an order identical to a recent one.

        :raises OrderPossibleDuplicate: a recent identical order needs a confirmation (in ``duplicate``).
        :raises ApplicationError: the service refused the order (the form now carries the error).
        """
        data = self.cleaned_data
        return self.enter(
            services.order_submit,
            actor=actor,
            via=via,
            account=data["account"],
            instrument=data["instrument"],
            side=data["side"],
            quantity=data["quantity"],
            order_type=data["order_type"],
            limit_price=data["limit_price"],
            stop_price=data["stop_price"],
            tif=data["tif"],
            outside_rth=data["outside_rth"],
            client_order_id=data["client_order_id"],
            confirm_duplicate=confirm_duplicate,
        )
