"""What positions and accounts are worth now: the mark price, its staleness, unrealized and day PnL.

One source of truth for the price of an instrument: ``Instrument.last_price`` and its
``last_price_at``, which the market-data feed of ``stream_bridge`` moves from the worker's ticks
(``{prefix}:md:<symbol>``) through ``orders.services.instrument_record_price``. The positions
page, its live updates, the monitoring loop's PnL points (and so the daily loss limit and the
desk's day PnL) all read it, so they agree with each other. A price older than
``settings.PRICE_STALE_SECONDS`` is still used, and said to be stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from accounts.models import BrokerAccount
from orders.models import PnLPoint, Position
from tradeconsole.clock import desk_day_start


def mark_price(*, last: Decimal | None, bid: Decimal | None, ask: Decimal | None) -> Decimal | None:
    """Return the price a tick marks positions at: the last trade, else the bid/ask midpoint.

    None when the tick has neither (one side of the book alone is no price).
    """
    if last is not None and last > 0:
        return Decimal(last)
    if bid is not None and ask is not None and bid > 0 and ask > 0:
        return (Decimal(bid) + Decimal(ask)) / 2
    return None


def price_is_stale(*, priced_at: datetime | None, now: datetime | None = None) -> bool:
    """Return whether a price stamped ``priced_at`` is older than ``PRICE_STALE_SECONDS`` (no stamp: stale)."""
    if priced_at is None:
        return True
    now = now or timezone.now()
    return now - priced_at > timedelta(seconds=settings.PRICE_STALE_SECONDS)


@dataclass(frozen=True)
class Valuation:
    """A position at the instrument's latest price: the price, when it was seen, and what it makes."""

    price: Decimal | None
    priced_at: datetime | None
    stale: bool
    market_value: Decimal | None
    unrealized: Decimal | None


def position_valuation(*, position: Position, now: datetime | None = None) -> Valuation:
    """Value ``position`` (with its ``instrument`` loaded) at the instrument's latest price.

    Unrealized PnL is ``(price - average cost) * quantity * multiplier``; both it and the market
    value are None without a price, and the unrealized PnL is None for a flat position.
    """
    instrument = position.instrument
    price = instrument.last_price
    if price is None:
        return Valuation(None, None, False, None, None)
    multiplier = Decimal(instrument.multiplier)
    unrealized = None
    if position.quantity:
        unrealized = (price - position.average_cost) * position.quantity * multiplier
    return Valuation(
        price=price,
        priced_at=instrument.last_price_at,
        stale=price_is_stale(priced_at=instrument.last_price_at, now=now),
        market_value=price * position.quantity * multiplier,
        unrealized=unrealized,
    )


@dataclass(frozen=True)
class DayPnL:
    """An account's PnL since the start of the desk's day, as of the latest PnL point."""

    pnl: Decimal
    at: datetime


def account_day_pnl(*, account: BrokerAccount, now: datetime | None = None) -> DayPnL | None:
    """Return the account's day PnL: realized today plus the change of unrealized since the day began.

    Computed by the rule of the daily loss limit (``orders.monitoring.daily_pnl``: the total of
    the account's latest PnL point today against the last point before the desk's local day
    began) so that the desk shows the figure the limit acts on. None until the monitoring loop
    has stored a point today. IB's own ``DailyPnL`` is not used: account updates do not carry it.
    """
    now = now or timezone.now()
    start = desk_day_start(now)
    latest = PnLPoint.objects.filter(account=account, at__gte=start, at__lte=now).order_by("-at", "-pk").first()
    return account_day_pnl_at(account=account, latest=latest)


def account_day_pnl_at(*, account: BrokerAccount, latest: PnLPoint | None) -> DayPnL | None:
    """Return the account's day PnL as of ``latest``, its latest PnL point today (read by the caller,
    as ``account_day_pnl`` reads it); None without one."""
    from orders.monitoring import AccountPnL, daily_pnl

    if latest is None:
        return None
    total = AccountPnL(latest.realized_pnl, latest.unrealized_pnl)
    return DayPnL(pnl=daily_pnl(account=account, now=latest.at, total=total), at=latest.at)
