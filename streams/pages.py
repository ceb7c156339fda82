"""The live pages: which row kinds each shows and which groups it needs, shared by views and consumers."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class Page:
    name: str
    title: str
    url_name: str
    kinds: frozenset[str]
    account_groups: bool = True
    desk_group: bool = False
    market_groups: bool = False


PAGES: dict[str, Page] = {
    page.name: page
    for page in (
        Page(
            "desk",
            "Desk",
            "streams:desk",
            frozenset({"account", "gateway", "killswitch", "alert", "process"}),
            desk_group=True,
        ),
        Page("blotter", "Orders blotter", "streams:blotter", frozenset({"order"})),
        # The basket's own orders' rows, replaced as they change (its page inserts no other order).
        Page("baskets", "Baskets", "streams:baskets", frozenset({"order"})),
        Page("positions", "Positions and PnL", "streams:positions", frozenset({"position", "pnl"})),
        Page("sessions", "Strategy sessions", "streams:sessions", frozenset({"session"})),
        # One session's page: its row (the figures) and its equity chart, which the row extends.
        Page("session", "Strategy session", "streams:session", frozenset({"session"})),
        Page(
            "market", "Market watch", "streams:market", frozenset({"quote"}), account_groups=False, market_groups=True
        ),
        # The chart and its ticket: the accounts' order rows tell it when a fill may have landed.
        Page("chart", "Market", "streams:chart", frozenset({"order"})),
        # The strategy editor shows no live rows; the socket only keeps the page's status honest.
        Page("editor", "Strategy editor", "streams:editor", frozenset(), account_groups=False),
        Page(
            "system",
            "System",
            "streams:system",
            frozenset({"process", "gateway", "system"}),
            account_groups=False,
            desk_group=True,
        ),
    )
}


def groups_for(page: Page, *, user_id: int, account_ids: set[int], symbols: list[str] = ()) -> list[str]:
    """The Channels groups a page joins: derived on the server from the user's accounts, never asked for."""
    from streams import live

    # The notices (toasts) reach every page of the user, whatever rows the page shows.
    groups = [live.user_group(user_id), live.notice_group(user_id)]
    if page.account_groups:
        groups += [live.account_group(pk) for pk in sorted(account_ids)]
    if page.desk_group:
        groups.append(live.DESK_GROUP)
    if page.market_groups:
        groups += [live.market_group(symbol) for symbol in sorted(set(symbols))]
    return groups


def market_symbols(account_ids: set[int], *, user_id: int | None = None) -> list[str]:
    """Symbols the market watch shows: the active instruments the accounts trade or may trade, and
    those on the watchlist of the user ``user_id``.

    An instrument counts when one of the accounts holds a position in it, has an order in it, or
    lists it among its risk limit's allowed instruments (read by subqueries: a join with the
    orders would return one row per order).
    """
    from marketdata.models import WatchlistEntry
    from orders.models import Instrument, Order, Position, RiskLimit

    allowed = RiskLimit.allowed_instruments.through.objects.filter(risklimit__account_id__in=account_ids)
    theirs = (
        models.Q(pk__in=Position.objects.filter(account_id__in=account_ids).values("instrument_id"))
        | models.Q(pk__in=Order.objects.filter(account_id__in=account_ids).values("instrument_id"))
        | models.Q(pk__in=allowed.values("instrument_id"))
    )
    if user_id is not None:
        theirs |= models.Q(pk__in=WatchlistEntry.objects.filter(user_id=user_id).values("instrument_id"))
    return list(
        Instrument.objects.filter(theirs, active=True).order_by("symbol").values_list("symbol", flat=True).distinct()
    )
