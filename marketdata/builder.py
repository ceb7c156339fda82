"""The bar arithmetic: trades in, OHLCV bars of every resolution out (no Redis, no Django).

One ``BarBuilder`` keeps, per symbol and resolution, the bar being formed. ``trade`` folds one
trade into the forming bar of every resolution, closing a bar whose interval the trade has left;
``close_due`` closes by time the bars whose interval has ended, so a quiet symbol's bar closes
without a new tick. ``drain`` hands out what changed since the last drain: every closed bar, in
order, and the latest state of each forming bar that changed (a bar that changed several times
between two drains is announced once, as it stands).

Rules (IB's TRADES bars with ``useRTH=1``; the alignment is ``marketdata.sessions``'):

* A trade outside the instrument's regular session (pre-market, after hours, a weekend, a
  holiday, after a half day's early close) is counted in ``outside_session`` and builds no bar.
* An interval without a trade has no bar (IB's bars skip them too).
* A trade older than its bar's interval allows (time went back, or the bar was already closed
  by time) is counted in ``late`` and left out: a closed bar never changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from marketdata import resolutions
from marketdata.bars import BarRecord
from marketdata.resolutions import Resolution
from marketdata.sessions import Session, SessionCalendar, bar_bounds


@dataclass(slots=True)
class FormingBar:
    """The bar of one symbol and resolution being built; trades with start <= t < end go in it."""

    time: int
    start: int
    end: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    def record(self, symbol: str, resolution: str, *, closed: bool) -> BarRecord:
        return BarRecord(symbol, resolution, self.time, self.open, self.high, self.low, self.close, self.volume, closed)


@dataclass(slots=True)
class BuilderCounts:
    """What the builder has seen: trades built into bars, and trades it left out and why."""

    trades: int = 0
    outside_session: int = 0
    late: int = 0
    closed_bars: int = 0


@dataclass(slots=True)
class _Symbol:
    calendar: SessionCalendar
    session: Session | None = None
    forming: dict[str, FormingBar] = field(default_factory=dict)
    # The end of the last closed bar per resolution: a trade before it is late.
    closed_until: dict[str, int] = field(default_factory=dict)


class BarBuilder:
    """Bars of every resolution in ``resolutions.ALL`` for any number of symbols.

    ``calendar_for(symbol)`` gives a symbol's exchange calendar; it is asked once per symbol.
    """

    def __init__(
        self,
        calendar_for: Callable[[str], SessionCalendar],
        kept: tuple[Resolution, ...] = resolutions.ALL,
    ) -> None:
        self.calendar_for = calendar_for
        self.kept = kept
        self.counts = BuilderCounts()
        self._symbols: dict[str, _Symbol] = {}
        self._closed: list[BarRecord] = []
        self._changed: dict[tuple[str, str], FormingBar] = {}

    def reset(self) -> None:
        """Forget every symbol's bars and what was not drained (the counts stay)."""
        self._symbols.clear()
        self._closed = []
        self._changed = {}

    def prepare(self, symbol: str) -> None:
        """Ask ``symbol``'s calendar now, not at its first trade: a lookup may query the desk's
        database, and the process's first builds the calendar (0.4 s or more), while the ticks of
        every symbol wait behind the trade that asked (bench market_topics: its first ticks' bars
        came 0.5-1.7 s late)."""
        self._state(symbol)

    def _state(self, symbol: str) -> _Symbol:
        state = self._symbols.get(symbol)
        if state is None:
            state = self._symbols[symbol] = _Symbol(self.calendar_for(symbol))
        return state

    def trade(self, symbol: str, t: float, price: Decimal, size: Decimal) -> bool:
        """Fold a trade at instant ``t`` (epoch seconds) into ``symbol``'s bars; False when left out."""
        state = self._state(symbol)
        session = state.session
        if session is None or not session.open <= t < session.close:
            session = state.session = state.calendar.at(t)
            if session is None:
                self.counts.outside_session += 1
                return False
        used = False
        for resolution in self.kept:
            code = resolution.code
            bar = state.forming.get(code)
            if bar is not None and bar.start <= t < bar.end:
                if price > bar.high:
                    bar.high = price
                elif price < bar.low:
                    bar.low = price
                bar.close = price
                bar.volume += size
            else:
                if (bar is not None and t < bar.start) or t < state.closed_until.get(code, 0):
                    self.counts.late += 1
                    continue
                if bar is not None:
                    self._close(symbol, code, state, bar)
                time, start, end = bar_bounds(resolution, t, session)
                bar = state.forming[code] = FormingBar(time, start, end, price, price, price, price, size)
            self._changed[(symbol, code)] = bar
            used = True
        if used:
            self.counts.trades += 1
        return used

    def close_due(self, now: float) -> int:
        """Close every forming bar whose interval ended at or before ``now``; return how many closed."""
        closed = 0
        for symbol, state in self._symbols.items():
            for code, bar in list(state.forming.items()):
                if bar.end <= now:
                    self._close(symbol, code, state, bar)
                    closed += 1
        return closed

    def _close(self, symbol: str, code: str, state: _Symbol, bar: FormingBar) -> None:
        del state.forming[code]
        state.closed_until[code] = bar.end
        self._changed.pop((symbol, code), None)
        self._closed.append(bar.record(symbol, code, closed=True))
        self.counts.closed_bars += 1

    def drain(self) -> tuple[list[BarRecord], list[BarRecord]]:
        """``(closed, forming)`` since the last drain: closed bars oldest first, then each forming bar
        that changed, in its latest state. A (symbol, resolution) in ``closed`` and not in
        ``forming`` has no forming bar now.
        """
        closed, self._closed = self._closed, []
        forming = [bar.record(symbol, code, closed=False) for (symbol, code), bar in self._changed.items()]
        self._changed = {}
        return closed, forming

    def restore(self, forming: BarRecord | None, last_closed: BarRecord | None = None) -> None:
        """Take up what an earlier run kept of one symbol and resolution: its forming bar and its
        newest closed bar (a trade before that bar's end is late). Either may be None; a bar whose
        session the calendar does not know is dropped.
        """
        for bar in (last_closed, forming):
            if bar is None:
                continue
            state = self._state(bar.symbol)
            resolution = resolutions.parse(bar.resolution)
            bounds = self._bounds_of(state.calendar, resolution, bar.time)
            if bounds is None:
                continue
            time, start, end = bounds
            if bar is last_closed:
                state.closed_until[resolution.code] = max(state.closed_until.get(resolution.code, 0), end)
            else:
                state.forming[resolution.code] = FormingBar(
                    time, start, end, bar.open, bar.high, bar.low, bar.close, bar.volume
                )

    @staticmethod
    def _bounds_of(calendar: SessionCalendar, resolution: Resolution, time: int) -> tuple[int, int, int] | None:
        session = calendar.on(datetime.fromtimestamp(time, tz=UTC).date()) if resolution.daily else calendar.at(time)
        if session is None:
            return None
        return bar_bounds(resolution, max(time, session.open), session)

    def forming(self, symbol: str, resolution: str) -> BarRecord | None:
        """The bar of ``symbol`` at ``resolution`` being formed, or None."""
        state = self._symbols.get(symbol)
        bar = state.forming.get(resolution) if state else None
        return bar.record(symbol, resolution, closed=False) if bar else None
