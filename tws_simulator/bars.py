"""Bars cut from the market's price paths: the windows a bar size makes of a time range, and each window's OHLCV.

A bar's open is the path at its first second and its close the path at its last second, so bars of
different sizes that share an edge agree on it (and the close of the bar forming now is the live
last price). An intraday bar's high and low are the extremes of the path at the first and last
second of every 30-second slot it holds (every second below 30-second bars), so a bar's range
holds the ranges of the smaller bars inside it; a daily or longer bar samples twelve points across
each bar besides its open and close (a year of minute samples would cost seconds).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tws_simulator.market import Market
from tws_simulator.price_path import mix
from tws_simulator.trading_hours import TradingHours

DAY = 86_400
WEEK = -7  # bar sizes longer than a session are grouped by the calendar, not cut by seconds
MONTH = -30
SAMPLES = 12
SLOT = 30
# Legal bar sizes, as TWS lists them in its error 321 (plus the spelled-out week and month).
BAR_SIZES = {
    "1 secs": 1,
    "5 secs": 5,
    "10 secs": 10,
    "15 secs": 15,
    "30 secs": 30,
    "1 min": 60,
    "2 mins": 120,
    "3 mins": 180,
    "5 mins": 300,
    "10 mins": 600,
    "15 mins": 900,
    "20 mins": 1200,
    "30 mins": 1800,
    "1 hour": 3600,
    "2 hours": 7200,
    "3 hours": 10800,
    "4 hours": 14400,
    "8 hours": 28800,
    "1 day": DAY,
    "1W": WEEK,
    "1 week": WEEK,
    "1M": MONTH,
    "1 month": MONTH,
}
WHAT_TO_SHOW = ("TRADES", "MIDPOINT", "BID", "ASK")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: [start, end) in epoch seconds; ``day`` is set for daily and longer bars (their label)."""

    start: float
    end: float
    open: float
    high: float
    low: float
    close: float
    volume: int
    wap: float
    count: int
    day: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Window:
    start: float
    end: float
    day: dt.date | None = None


def windows(hours: TradingHours, start: float, end: float, size: int, *, rth: bool) -> list[Window]:
    """The bar windows of ``size`` (seconds, or WEEK/MONTH) over [start, end), inside the sessions.

    Intraday windows are aligned to multiples of ``size`` from local midnight and cut at the
    session's edges; a daily window is a session; weekly and monthly windows group sessions.
    """
    sessions = hours.sessions_between(start, end, rth=rth)
    found: list[Window] = []
    if size >= DAY or size < 0:
        for day, open_, close in sessions:
            a, b = max(open_, start), min(close, end)
            if size == DAY or not found or _group(found[-1].day, size) != _group(day, size):
                found.append(Window(a, b, day))
            else:
                found[-1] = Window(found[-1].start, b, found[-1].day)
        return found
    for day, open_, close in sessions:
        midnight = hours.at(day, dt.time(0, 0))
        a, b = max(open_, start), min(close, end)
        cursor = midnight + (a - midnight) // size * size
        while cursor < b:
            found.append(Window(max(cursor, a), min(cursor + size, b)))
            cursor += size
    return found


def _group(day: dt.date | None, size: int) -> tuple[int, int]:
    assert day is not None
    if size == WEEK:
        year, week, _ = day.isocalendar()
        return year, week
    return day.year, day.month


def _price(market: Market, symbol: str, t: float, what: str) -> float:
    tick = market.quotes[symbol].min_tick
    mid = market.path_price(symbol, t)
    if what == "BID":
        mid -= tick
    elif what == "ASK":
        mid += tick
    return max(tick, market.round_tick(mid, tick))


def bar(market: Market, symbol: str, window: Window, what: str) -> Bar:
    """The OHLCV of ``symbol`` over ``window`` for ``what`` (TRADES, MIDPOINT, BID or ASK).

    Volume, WAP and count are TWS's -1 for anything but TRADES.

    :raises KeyError: unknown symbol.
    """
    first = window.start
    last = max(first, window.end - 1)
    open_ = _price(market, symbol, first, what)
    close = _price(market, symbol, last, what)
    prices = [open_, close]
    if window.day is None:
        slot = SLOT if window.end - window.start >= SLOT else 1
        t = (first // slot) * slot
        while t < window.end:
            prices += [_price(market, symbol, u, what) for u in (t, t + slot - 1) if first <= u <= last]
            t += slot
    else:
        step = (last - first) / SAMPLES
        prices += [_price(market, symbol, first + k * step, what) for k in range(1, SAMPLES)]
    high, low = max(prices), min(prices)
    if what != "TRADES":
        return Bar(window.start, window.end, open_, high, low, close, -1, -1.0, -1, window.day)
    seconds = max(1.0, window.end - window.start)
    noise = mix(int(window.start) ^ (int(seconds) << 40) ^ market.quotes[symbol].con_id) / float(1 << 64)
    volume = int(seconds * 40 * (0.5 + noise)) * 10
    wap = round((high + low + close) / 3, 4)
    return Bar(window.start, window.end, open_, high, low, close, volume, wap, max(1, volume // 150), window.day)
