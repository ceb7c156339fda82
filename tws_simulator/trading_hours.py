"""The simulated exchange's sessions: regular hours 09:30-16:00 and extended hours 04:00-20:00, Monday to Friday.

Holidays and half days are not modelled (every weekday trades); the time zone is the config's
(``US/Eastern`` by default), as TWS reports it in contract details.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

RTH = (dt.time(9, 30), dt.time(16, 0))
EXTENDED = (dt.time(4, 0), dt.time(20, 0))


class TradingHours:
    """Session windows in epoch seconds, for one time zone."""

    def __init__(self, time_zone: str) -> None:
        self.zone_name = time_zone
        self.zone = ZoneInfo(time_zone)

    def local(self, t: float) -> dt.datetime:
        """Epoch second ``t`` as an aware datetime in the exchange's zone."""
        return dt.datetime.fromtimestamp(t, self.zone)

    def at(self, day: dt.date, clock: dt.time) -> float:
        """The epoch second of ``clock`` on ``day`` in the exchange's zone."""
        return dt.datetime.combine(day, clock, self.zone).timestamp()

    def session(self, day: dt.date, *, rth: bool) -> tuple[float, float] | None:
        """(open, close) of ``day``'s session in epoch seconds, or None on a weekend."""
        if day.weekday() >= 5:
            return None
        start, end = RTH if rth else EXTENDED
        return self.at(day, start), self.at(day, end)

    def sessions_between(self, start: float, end: float, *, rth: bool) -> list[tuple[dt.date, float, float]]:
        """Each session (day, open, close) that overlaps [start, end), in order."""
        day = self.local(start).date()
        last = self.local(end).date()
        found = []
        while day <= last:
            window = self.session(day, rth=rth)
            if window and window[1] > start and window[0] < end:
                found.append((day, *window))
            day += dt.timedelta(days=1)
        return found

    def sessions_back(self, end: float, count: int, *, rth: bool) -> float:
        """The open of the ``count``-th session counting back from the one open at or before ``end``."""
        day = self.local(end).date()
        seen = 0
        while True:
            window = self.session(day, rth=rth)
            if window and window[0] < end:
                seen += 1
                if seen >= count:
                    return window[0]
            day -= dt.timedelta(days=1)

    def hours_text(self, t: float, days: int, *, rth: bool) -> str:
        """TWS's tradingHours/liquidHours text for ``days`` days from ``t``'s date.

        Each day is ``yyyymmdd:hhmm-yyyymmdd:hhmm``, or ``yyyymmdd:CLOSED``, joined by ``;``.
        """
        day = self.local(t).date()
        parts = []
        start, end = RTH if rth else EXTENDED
        for offset in range(days):
            d = day + dt.timedelta(days=offset)
            stamp = d.strftime("%Y%m%d")
            if d.weekday() >= 5:
                parts.append(f"{stamp}:CLOSED")
            else:
                parts.append(f"{stamp}:{start.strftime('%H%M')}-{stamp}:{end.strftime('%H%M')}")
        return ";".join(parts)
