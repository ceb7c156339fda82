"""The bars a strategy has seen, as float columns, and their place in the exchange's sessions.

Columns grow as closed bars arrive (amortised doubling), so the live evaluator and the history
run read the same arrays. Session columns are computed once per bar, only when a plan needs them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from marketdata import resolutions, sessions
from marketdata.bars import BarRecord

PRICE_FIELDS = ("open", "high", "low", "close", "volume")


class BarHistory:
    """The closed bars of one symbol so far; ``open``/``high``/… are float arrays of ``len(self)``."""

    def __init__(self, calendar_code: str = sessions.DEFAULT_CALENDAR, capacity: int = 1024) -> None:
        self.calendar_code = calendar_code
        self._n = 0
        self._cols = {name: np.empty(capacity) for name in (*PRICE_FIELDS, "time")}
        self._session: dict[str, list] | None = None
        self._resolution = "1"

    def __len__(self) -> int:
        return self._n

    def append(self, bar: BarRecord) -> None:
        """Add one closed bar (the caller checks order and closing)."""
        if self._n == len(self._cols["time"]):
            for name, col in self._cols.items():
                grown = np.empty(2 * len(col))
                grown[: self._n] = col[: self._n]
                self._cols[name] = grown
        i = self._n
        cols = self._cols
        cols["open"][i], cols["high"][i], cols["low"][i] = float(bar.open), float(bar.high), float(bar.low)
        cols["close"][i], cols["volume"][i], cols["time"][i] = float(bar.close), float(bar.volume), bar.time
        self._n += 1
        if self._session is not None:
            self._add_session(bar.time, bar.resolution)
        self._resolution = bar.resolution

    def extend(self, bars: list[BarRecord]) -> None:
        """Add closed bars in order, a column at a time (the history run's way in)."""
        if not bars:
            return
        n, end = self._n, self._n + len(bars)
        if end > len(self._cols["time"]):
            for name, col in self._cols.items():
                grown = np.empty(max(end, 2 * len(col)))
                grown[:n] = col[:n]
                self._cols[name] = grown
        cols = self._cols
        cols["open"][n:end] = [float(bar.open) for bar in bars]
        cols["high"][n:end] = [float(bar.high) for bar in bars]
        cols["low"][n:end] = [float(bar.low) for bar in bars]
        cols["close"][n:end] = [float(bar.close) for bar in bars]
        cols["volume"][n:end] = [float(bar.volume) for bar in bars]
        cols["time"][n:end] = [bar.time for bar in bars]
        self._n = end
        self._resolution = bars[-1].resolution
        if self._session is not None:
            for bar in bars:
                self._add_session(bar.time, bar.resolution)

    @classmethod
    def of(cls, bars: list[BarRecord], calendar_code: str = sessions.DEFAULT_CALENDAR) -> BarHistory:
        """A history holding ``bars`` (in order)."""
        history = cls(calendar_code, capacity=max(16, len(bars)))
        history.extend(bars)
        return history

    def drop_oldest(self, keep: int) -> int:
        """Forget all but the newest ``keep`` bars; return how many were dropped.

        A live session keeps a bounded window so each bar's recomputation costs the same on day 300
        as on day 1; indicators with an infinite memory (an EMA) differ from a full-history run by
        less than their weight of the dropped bars, which a window many times the warm-up makes tiny.
        """
        drop = self._n - keep
        if keep < 0 or drop <= 0:
            return 0
        # New arrays, not a shift in place: series computed before (views of these columns, shared
        # by the runner between sessions) must keep the values they were computed with.
        for name, col in self._cols.items():
            fresh = np.empty(len(col))
            fresh[:keep] = col[drop : self._n]
            self._cols[name] = fresh
        self._n = keep
        if self._session is not None:
            for values in self._session.values():
                del values[:drop]
        return drop

    def column(self, name: str) -> np.ndarray:
        """The column ``name`` (a price field or ``time``) over the bars so far."""
        return self._cols[name][: self._n]

    def session_column(self, name: str) -> np.ndarray:
        """``minutes_since_open``, ``minute_of_day``, ``first``, ``last`` or ``session`` (a day number)."""
        if self._session is None:
            self._session = {k: [] for k in ("minutes_since_open", "minute_of_day", "first", "last", "session")}
            resolution = self._resolution
            for t in self.column("time"):
                self._add_session(int(t), resolution)
        dtype = bool if name in ("first", "last") else float
        return np.asarray(self._session[name], dtype=dtype)

    def _add_session(self, t: int, resolution_code: str) -> None:
        calendar = sessions.calendar(self.calendar_code)
        resolution = resolutions.parse(resolution_code)
        local = datetime.fromtimestamp(t, tz=calendar.tz)
        cols = self._session
        if resolution.daily:
            session = calendar.on(datetime.fromtimestamp(t, tz=UTC).date())
            in_session = session is not None
            first = last = in_session
            since_open = 0.0 if in_session else math.nan
            day = (session.day if in_session else local.date()).toordinal()
        else:
            session = calendar.at(t)
            if session is None:
                # Outside regular hours (the desk keeps RTH bars; an odd one anchors to its local date).
                first = last = False
                since_open, day = math.nan, local.date().toordinal()
            else:
                _, start, end = sessions.bar_bounds(resolution, t, session)
                first, last = start <= session.open, end >= session.close
                since_open, day = (t - session.open) / 60.0, session.day.toordinal()
        cols["minutes_since_open"].append(since_open)
        cols["minute_of_day"].append(local.hour * 60 + local.minute)
        cols["first"].append(first)
        cols["last"].append(last)
        cols["session"].append(day)
