"""The orders blotter: working and recent orders, filtered, searched (``?q=``), sorted (``?sort=``), kept live.

One page is ``BLOTTER_LIMIT`` rows read in two statements: the ids of the page (filters, search
and sort applied by the database through ``order_list``) and their rows (``rows.order_rows``,
the plain statement the live fan-out reads them with). The socket is opened with the same
filters and search, so a row that arrives and does not match is not shown
(``streams.row_frames.row_op``); static/streams/blotter.js puts a new row where the sort puts it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from accounts.selectors import accounts_for_user
from orders.models import Order, OrderStatus
from orders.search import DEFAULT_SORT, order_sort, sort_key
from orders.selectors import order_list
from strategies.models import Strategy
from streams import rows
from streams.views import live_context

BLOTTER_LIMIT = 200
# The socket reads at most 64 characters of a query value (streams.consumers): the page keeps to that.
MAX_SEARCH = 64

# The blotter's columns: (key, header, CSS class of its cells, ?sort= name or None). The status
# and actions cells keep the classes their templates give them (order-status, row-actions).
COLUMNS = [
    ("time", "Time", "col-time", "time"),
    ("account", "Account", "col-account", "account"),
    ("symbol", "Symbol", "col-symbol", "symbol"),
    ("side", "Side", "col-side", "side"),
    ("qty", "Qty", "col-qty num", "qty"),
    ("type", "Type", "col-type", None),
    ("limit", "Limit", "col-limit num", None),
    ("status", "Status", "order-status", "status"),
    ("filled", "Filled", "col-filled num", "filled"),
    ("avg", "Avg price", "col-avg num", None),
    ("strategy", "Strategy", "col-strategy", None),
    ("source", "Source", "col-source", None),
]
# Descending first for these (the newest, the largest); ascending first for the words.
DESCENDING_FIRST = {"time", "qty", "filled"}


def _filters(request: HttpRequest, account_ids: set[int]) -> dict[str, str]:
    """The page's filters as given in its query, each dropped when it names nothing the user may see."""
    account = request.GET.get("account", "")
    strategy = request.GET.get("strategy", "")
    status = request.GET.get("status", "")
    return {
        k: v
        for k, v in {
            # isascii too: str.isdigit takes "²", which int() refuses.
            "account": account if account.isascii() and account.isdigit() and int(account) in account_ids else "",
            "strategy": strategy if strategy.isascii() and strategy.isdigit() else "",
            "status": status if status in OrderStatus.values else "",
            "q": " ".join(request.GET.get("q", "")[:MAX_SEARCH].split()),
        }.items()
        if v
    }


def _headers(query: dict[str, str], sort: str) -> list[dict]:
    """Each column's header: its link to sort by it (the other way when it is the sort) and its aria-sort."""
    headers = []
    for key, label, css, by in COLUMNS:
        header = {"key": key, "label": label, "css": css, "aria_sort": None, "url": None}
        if by is not None:
            current = sort.lstrip("-") == by
            descending = sort.startswith("-")
            if current:
                header["aria_sort"] = "descending" if descending else "ascending"
                following = by if descending else f"-{by}"
            else:
                following = f"-{by}" if by in DESCENDING_FIRST else by
            params = {**query, **({"sort": following} if following != DEFAULT_SORT else {})}
            header["url"] = "?" + urlencode(params) if params else "?"
        headers.append(header)
    return headers


def _narrowed_by(query: dict[str, str], accounts: list) -> str:
    """The filters and search in words, for the empty page ("No orders match “AAPL”, account DU1 …")."""
    parts = []
    if query.get("q"):
        parts.append(f"“{query['q']}”")
    if query.get("account"):
        parts += [f"account {a.code}" for a in accounts if str(a.pk) == query["account"]]
    if query.get("strategy"):
        # Named only when the user's accounts may run it (the strategy menu's rule): the id is typed by anyone.
        mine = Strategy.objects.filter(pk=int(query["strategy"]), accounts__in=accounts)
        name = mine.values_list("name", flat=True).first()
        parts.append(f"strategy {name or query['strategy']}")
    if query.get("status"):
        parts.append(f"status {OrderStatus(query['status']).label}")
    return ", ".join(parts)


def _page_rows(pks: list[int]) -> list[dict]:
    # order_rows answers newest first; the page keeps the sort's order.
    found = {row["ctx"]["pk"]: row for row in rows.order_rows(pks=pks)}
    return [found[pk] for pk in pks if pk in found]


@login_required
def blotter(request: HttpRequest) -> HttpResponse:
    """Working and recent orders of the user's accounts: filtered by account, strategy and status,
    searched by ``q``, sorted by ``sort`` (``orders.search.SORTS``, ``-`` for descending), kept live."""
    accounts = list(accounts_for_user(request.user))
    account_ids = {a.pk for a in accounts}
    query = _filters(request, account_ids)
    sort = sort_key(request.GET.get("sort"))
    selected = {int(query["account"])} if "account" in query else set()
    context = live_context(request, "blotter", account_ids=selected or account_ids, query=query)
    filters = {
        "account": int(query["account"]) if "account" in query else None,
        "status": query.get("status"),
        "strategy": int(query["strategy"]) if "strategy" in query else None,
        "search": query.get("q"),
    }
    found = order_sort(order_list(user=request.user, filters={k: v for k, v in filters.items() if v}), sort)
    pks = list(found.values_list("pk", flat=True)[:BLOTTER_LIMIT])
    # The empty page says whether nothing matches or there is nothing yet.
    anything = bool(pks) or (bool(query) and Order.objects.filter(account_id__in=account_ids).exists())
    context.update(
        order_rows=_page_rows(pks),
        accounts=accounts,
        strategies=Strategy.objects.filter(accounts__in=accounts).distinct(),
        statuses=OrderStatus.choices,
        selected={k: query.get(k, "") for k in ("account", "strategy", "status")},
        search=query.get("q", ""),
        sort=sort,
        headers=_headers(query, sort),
        anything=anything,
        limit=BLOTTER_LIMIT,
        clear_url=reverse("streams:blotter") + (f"?{urlencode({'sort': sort})}" if sort != DEFAULT_SORT else ""),
        # Every order the filters and search select, not the page's 200: the API's CSV export.
        export_url=reverse("api-v1:order-export") + ("?" + urlencode(query) if query else ""),
        narrowed_by=_narrowed_by(query, accounts),
    )
    return render(request, "streams/blotter.html", context)
