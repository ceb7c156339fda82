"""The ticket that a row's Buy and Sell (and the B and S keys) open on every live page: the Market page's ticket,
prefilled from the row, answered as a partial for the page's dialog (streams/_row_ticket.html).

It only renders: the ticket posts to ``market_page.ticket_view`` like the Market page's, so an order from
a row takes the one entry path (``OrderEntryForm``, ``order_submit``, the duplicate guard).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.exceptions import AccountNotMember, PermissionRequired
from accounts.selectors import accounts_for_user
from execution_worker.messages.enums import ORDER_TYPE_PRICES
from marketdata import selectors
from orders import validation
from orders.exceptions import OrderInvalid
from orders.models import OrderType, Side
from streams.market_page import TICKET_PERMISSION, ticket_form
from streams.views import _refused
from tradeconsole.exceptions import ApplicationError

PREFIX = "row-"


@require_GET
@login_required
def row_ticket(request: HttpRequest) -> HttpResponse:
    """The ticket for ``?symbol=`` prefilled with ``side``, ``quantity``, ``account`` and ``order_type``
    (each optional; an unknown side or type is the ticket's default, a negative quantity its size).

    Refusals are problem+json with their code: a user who may not enter orders (403
    ``permission.denied``), an unknown symbol (404 ``marketdata.unknown_symbol``), an account not
    the user's (403 ``account.not_member``), a quantity that is no number (400 ``order.invalid``).
    """
    try:
        if not request.user.has_perm(TICKET_PERMISSION):
            raise PermissionRequired("Your role does not allow entering orders.")
        instrument = selectors.instrument_for_symbol(request.GET.get("symbol", ""))
        prefill = _prefill(request)
    except ApplicationError as error:
        return _refused(error)
    context = {
        "form": ticket_form(request.user, instrument, prefill=prefill, prefix=PREFIX),
        "ticket_prefix": PREFIX,
        "instrument": instrument,
        "order_type_prices": json.dumps(ORDER_TYPE_PRICES),
    }
    return render(request, "streams/_ticket.html", context)


def _prefill(request: HttpRequest) -> dict:
    """The ticket's initial values asked for by the row.

    :raises AccountNotMember: ``account`` is not one of the user's accounts.
    :raises OrderInvalid: ``quantity`` is not a number, or has more digits than an order takes.
    """
    prefill: dict = {}
    side = request.GET.get("side", "").upper()
    if side in Side.values:
        prefill["side"] = side
    order_type = request.GET.get("order_type", "").upper()
    if order_type in OrderType.values:
        prefill["order_type"] = order_type
    account = request.GET.get("account", "")
    if account:
        # isascii too: str.isdigit takes "²", which int() refuses.
        if (
            not (account.isascii() and account.isdigit())
            or not accounts_for_user(request.user).filter(pk=int(account)).exists()
        ):
            raise AccountNotMember("The ticket is for an account that is not yours.", field="account")
        prefill["account"] = int(account)
    quantity = request.GET.get("quantity", "").replace(",", "")
    if quantity:
        try:
            # copy_abs: abs() rounds in the context and overflows past its exponent limit (1e9999999).
            amount = Decimal(quantity).copy_abs()
        except InvalidOperation:
            raise OrderInvalid(f"The quantity {quantity!r} is not a number.", field="quantity") from None
        if not amount.is_finite():
            raise OrderInvalid(f"The quantity {quantity!r} is not a number.", field="quantity")
        if amount:
            # The order entry's own rule (the book's digits) before printing it: 1e9999999 overflows.
            validation.check_quantity(amount)
            prefill["quantity"] = f"{amount.normalize():f}"
    return prefill
