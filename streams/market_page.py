"""The Market page: one symbol's candlestick chart (static/marketdata/chart.js) and the order ticket beside it.

The ticket that rows open on every live page (streams/ticket_page.py) is this one, posted here too.

The ticket is the admin's ``OrderEntryForm`` posted by htmx: the same form, the same
``order_submit`` and the same duplicate guard as the admin's "Add order"; a refusal comes back on
the field it names with its stable code, a possible duplicate as the admin's confirmation step.
"""

from __future__ import annotations

import json
import time

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from accounts.selectors import accounts_for_user
from execution_worker.messages.enums import ORDER_TYPE_PRICES
from marketdata import resolutions, selectors
from marketdata.models import WatchlistEntry
from orders.admin_entry import duplicate_context
from orders.forms import OrderEntryForm
from orders.models import Instrument, OrderType, Side
from orders.selectors import order_list
from streams import rows
from streams.pages import market_symbols
from streams.views import live_context
from tradeconsole.exceptions import ApplicationError

VIA = "market"
# Whoever may enter an order in the admin may use the ticket; a viewer sees the chart only.
TICKET_PERMISSION = "orders.add_order"
RECENT_ORDERS = 10
HISTORY_BARS = 300


def _chart_symbols(user, account_ids: set[int]) -> list[str]:
    """The symbols offered by the page's picker: the user's watchlist first, then the accounts' instruments."""
    watched = list(
        WatchlistEntry.objects.filter(user=user).order_by("position", "id").values_list("instrument__symbol", flat=True)
    )
    return watched + [s for s in market_symbols(account_ids) if s not in watched]


# The ids of the ticket's elements: "" on the Market page, "row-" in the dialog rows open (_row_ticket.html),
# so both tickets can be on one page. A posted ticket names its own; anything else is the page's.
TICKET_PREFIXES = ("", "row-")


def ticket_prefix(value: str | None) -> str:
    """The ticket's id prefix named by ``value``; an unknown one is the Market page's ("")."""
    return value if value in TICKET_PREFIXES else ""


def ticket_form(
    user,
    instrument: Instrument,
    data=None,
    *,
    after: OrderEntryForm | None = None,
    prefill: dict | None = None,
    prefix: str = "",
) -> OrderEntryForm:
    """A fresh ticket for ``instrument`` (a Limit buy unless ``prefill`` says otherwise: the rows' and the
    remembered order type's choices); after an entry it keeps the person's choices (a new client order id)."""
    initial = {"instrument": instrument.pk, "side": Side.BUY, "order_type": OrderType.LIMIT, **(prefill or {})}
    if after is not None:
        kept = ("account", "side", "quantity", "order_type", "limit_price", "stop_price", "tif", "outside_rth")
        initial.update({name: after.cleaned_data[name] for name in kept})
    return OrderEntryForm(data, user=user, initial=initial, auto_id=f"{prefix}id_%s")


@login_required
def chart(request: HttpRequest) -> HttpResponse:
    """The chart of ``?symbol=`` at ``?resolution=`` (1, 5, 15, 60, 1D), the ticket for a trader and the
    accounts' recent orders. An unknown symbol or resolution is answered 400 with its code on the page."""
    accounts = list(accounts_for_user(request.user))
    account_ids = {a.pk for a in accounts}
    context = live_context(request, "chart", account_ids=account_ids)
    symbols = _chart_symbols(request.user, account_ids)
    wanted = (request.GET.get("symbol") or "").strip().upper() or (symbols[0] if symbols else "")
    problem, instrument, resolution = None, None, resolutions.ONE_MINUTE
    try:
        resolution = resolutions.parse(request.GET.get("resolution") or resolutions.ONE_MINUTE.code)
        instrument = selectors.instrument_for_symbol(wanted) if wanted else None
    except resolutions.BadResolution as exc:
        problem = {"message": str(exc), "code": exc.code}
    except ApplicationError as exc:
        problem = {"message": exc.message, "code": exc.code}
    can_trade = request.user.has_perm(TICKET_PERMISSION)
    orders = order_list(user=request.user)[:RECENT_ORDERS]
    context.update(
        symbols=symbols,
        symbol=instrument.symbol if instrument else wanted,
        instrument=instrument,
        resolution=resolution,
        resolutions=resolutions.ALL,
        problem=problem,
        can_trade=can_trade and instrument is not None,
        form=ticket_form(request.user, instrument) if can_trade and instrument else None,
        order_type_prices=json.dumps(ORDER_TYPE_PRICES),
        order_rows=[rows.order_row(o) for o in orders],
        server_time=int(time.time()),
        history_bars=HISTORY_BARS,
        heartbeat_seconds=settings.MARKET_TOPICS_HEARTBEAT_SECONDS,
    )
    return render(request, "streams/chart.html", context, status=400 if problem else 200)


@require_POST
@login_required
def ticket_view(request: HttpRequest) -> HttpResponse:
    """Enter the ticket's order through ``OrderEntryForm.submit`` (``order_submit``, the duplicate guard)
    and answer the ticket again: with the entered order, the refusal on its field, or the confirmation step.

    :raises PermissionDenied: the user may not enter orders (403).
    """
    if not request.user.has_perm(TICKET_PERMISSION):
        raise PermissionDenied
    prefix = ticket_prefix(request.POST.get("ticket_prefix"))
    form = OrderEntryForm(request.POST, user=request.user, auto_id=f"{prefix}id_%s")
    entered, already = None, False
    if form.is_valid():
        entered, already = form.submit_posted(actor=request.user, via=VIA)
    instrument = entered.instrument if entered else _posted_instrument(form)
    context = {
        "form": ticket_form(request.user, instrument, after=form, prefix=prefix) if entered else form,
        "ticket_prefix": prefix,
        "instrument": instrument,
        "entered": entered,
        "already": already,
        "order_type_prices": json.dumps(ORDER_TYPE_PRICES),
        **duplicate_context(form),
    }
    return render(request, "streams/_ticket.html", context)


def _posted_instrument(form: OrderEntryForm) -> Instrument | None:
    """The instrument the ticket was for, even when the form did not validate."""
    if form.is_bound and "instrument" in getattr(form, "cleaned_data", {}):
        return form.cleaned_data["instrument"]
    pk = form.data.get("instrument", "")
    return Instrument.objects.filter(pk=pk).first() if str(pk).isdigit() else None
