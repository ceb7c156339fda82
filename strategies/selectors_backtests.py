"""Reads of backtests and of the stored bars a backtest runs over."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import QuerySet

from accounts.models import User
from marketdata.bars import BarRecord
from marketdata.models import Bar
from orders.models import Instrument
from strategies.models import Backtest
from strategies.selectors import strategy_list


def backtest_list(*, user: User, status: str | None = None) -> QuerySet[Backtest]:
    """Return the backtests of the strategies ``user`` sees, newest first."""
    queryset = Backtest.objects.select_related("version__strategy", "requested_by").filter(
        version__strategy__in=strategy_list(user=user)
    )
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def backtest_instrument(symbol: str) -> Instrument | None:
    """The desk's instrument of ``symbol`` whose bars a backtest reads: an active one first, then the oldest.

    The rule of ``marketdata.selectors.instrument_for_symbol``, which strategies may not import (it reaches streams).
    """
    return Instrument.objects.filter(symbol=symbol).order_by("-active", "id").first()


def bar_count(*, instrument: Instrument, resolution: str, start: datetime, end: datetime) -> int:
    """How many stored closed bars of ``instrument`` start in [start, end)."""
    return Bar.objects.filter(instrument=instrument, resolution=resolution, start__gte=start, start__lt=end).count()


def bar_chunks(
    *, instrument: Instrument, symbol: str, resolution: str, start: datetime, end: datetime, size: int
) -> Iterator[list[BarRecord]]:
    """Yield the stored bars of ``instrument`` starting in [start, end), in order, ``size`` at a time.

    Keyset pages on the (instrument, resolution, start) unique index: each page is one indexed
    range read, however deep into the range it is, and no page holds more than ``size`` rows.
    """
    after = None
    base = Bar.objects.filter(instrument=instrument, resolution=resolution, start__lt=end).order_by("start")
    while True:
        page = base.filter(start__gt=after) if after is not None else base.filter(start__gte=start)
        rows = list(page.values_list("start", "open", "high", "low", "close", "volume")[:size])
        if not rows:
            return
        yield [
            BarRecord(symbol, resolution, int(t.timestamp()), o, h, lo, c, v, closed=True) for t, o, h, lo, c, v in rows
        ]
        after = rows[-1][0]


def price_bars(*, instrument: Instrument, resolution: str, start: datetime, end: datetime, points: int) -> dict:
    """The bars of ``instrument`` in [start, end) as columns for a chart, every n-th one beyond ``points`` bars.

    ``candles`` is False when thinned: every n-th bar's close only, a line rather than candles.
    """
    rows = Bar.objects.filter(instrument=instrument, resolution=resolution, start__gte=start, start__lt=end)
    count = rows.count()
    stride = max(1, -(-count // points))
    values = rows.order_by("start").values_list("start", "open", "high", "low", "close")
    picked = list(values) if stride == 1 else list(values.iterator(chunk_size=10_000))[::stride]
    return {
        "candles": stride == 1,
        "time": [int(r[0].timestamp()) for r in picked],
        "open": [float(r[1]) for r in picked],
        "high": [float(r[2]) for r in picked],
        "low": [float(r[3]) for r in picked],
        "close": [float(r[4]) for r in picked],
    }
