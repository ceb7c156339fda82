"""The simulated exchange's sessions: regular hours from the exchange calendar, extended hours 04:00-20:00.

Regular hours, holidays and half days come from ``exchange_calendars`` (the calendar the desk's
own bars use; XNYS by default): a half day's regular session ends at its early close and its
extended hours at 17:00. Days outside the calendar's range, or every day with ``calendar=None``,
are plain weekdays 09:30-16:00. The time zone is the config's (``US/Eastern`` by default), as TWS
reports it in contract details.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import warnings
from zoneinfo import ZoneInfo

log = logging.getLogger("tws_simulator.hours")

RTH = (dt.time(9, 30), dt.time(16, 0))
EXTENDED = (dt.time(4, 0), dt.time(20, 0))
HALF_DAY_EXTENDED_CLOSE = dt.time(17, 0)
# The years the desk's own calendar spans (marketdata.sessions), whatever today is.
CALENDAR_START, CALENDAR_END = "2005-01-01", "2045-12-31"


@functools.cache
def regular_sessions(code: str) -> tuple[dict[dt.date, tuple[float, float]], dt.date, dt.date]:
    """Each session of calendar ``code`` as date -> (open, close) epoch seconds, and the calendar's first and
    last date. Built once per process (about two seconds: pandas and the calendar's years of sessions).

    :raises exchange_calendars.errors.InvalidCalendarName: an unknown code.
    """
    import exchange_calendars  # heavy (pandas); only a simulator that serves sessions pays for it

    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips a pandas deprecation warning that is not ours to fix.
        warnings.simplefilter("ignore", category=Warning)
        schedule = exchange_calendars.get_calendar(code, start=CALENDAR_START, end=CALENDAR_END).schedule
    opens = [int(ts.timestamp()) for ts in schedule["open"]]
    closes = [int(ts.timestamp()) for ts in schedule["close"]]
    days = [ts.date() for ts in schedule.index]
    return dict(zip(days, zip(opens, closes, strict=True), strict=True)), days[0], days[-1]


def warm(code: str | None) -> None:
    """Build calendar ``code`` in a background thread, so the first request that needs it does not wait."""
    if code:
        threading.Thread(target=_warm, args=(code,), name="tws-simulator-calendar", daemon=True).start()


def _warm(code: str) -> None:
    try:
        regular_sessions(code)
    except Exception:
        log.exception("exchange calendar %s could not be built; weekdays 09:30-16:00 stand in", code)


class TradingHours:
    """Session windows in epoch seconds, for one time zone."""

    def __init__(self, time_zone: str, calendar: str | None = None) -> None:
        self.zone_name = time_zone
        self.zone = ZoneInfo(time_zone)
        self.calendar = calendar

    def _regular(self, day: dt.date) -> tuple[float, float] | bool | None:
        """The calendar's (open, close) of ``day``, None when it is no session, False when outside the calendar."""
        if not self.calendar:
            return False
        try:
            sessions, first, last = regular_sessions(self.calendar)
        except Exception:
            return False
        if not first <= day <= last:
            return False
        return sessions.get(day)

    def local(self, t: float) -> dt.datetime:
        """Epoch second ``t`` as an aware datetime in the exchange's zone."""
        return dt.datetime.fromtimestamp(t, self.zone)

    def at(self, day: dt.date, clock: dt.time) -> float:
        """The epoch second of ``clock`` on ``day`` in the exchange's zone."""
        return dt.datetime.combine(day, clock, self.zone).timestamp()

    def session(self, day: dt.date, *, rth: bool) -> tuple[float, float] | None:
        """(open, close) of ``day``'s session in epoch seconds (regular or extended hours), or None when closed."""
        regular = self._regular(day)
        if regular is None or (regular is False and day.weekday() >= 5):
            return None
        if regular is False:
            start, end = RTH if rth else EXTENDED
            return self.at(day, start), self.at(day, end)
        if rth:
            return regular
        early = regular[1] < self.at(day, RTH[1])
        return self.at(day, EXTENDED[0]), self.at(day, HALF_DAY_EXTENDED_CLOSE if early else EXTENDED[1])

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
        for offset in range(days):
            d = day + dt.timedelta(days=offset)
            window = self.session(d, rth=rth)
            if window is None:
                parts.append(f"{d.strftime('%Y%m%d')}:CLOSED")
            else:
                parts.append(
                    f"{self.local(window[0]).strftime('%Y%m%d:%H%M')}-{self.local(window[1]).strftime('%Y%m%d:%H%M')}"
                )
        return ";".join(parts)
