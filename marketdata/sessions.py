"""Exchange sessions and where a bar of each resolution starts and ends (no Django: the builder's).

The alignment is IB's for US stocks with ``useRTH=1`` (TRADES bars, regular trading hours only):

* 1, 5 and 15 minutes: clock-aligned intervals in the exchange's time zone (09:30, 09:35, …).
  The session's open and close (09:30, 16:00, 13:00 on a half day) fall on these boundaries.
* 1 hour: clock hours in the exchange's time zone, the first cut at the session open, so a full
  NYSE day has 7 bars: 09:30-10:00 (half an hour), 10:00, 11:00, … 15:00-16:00; on a half day
  (e.g. 2026-11-27, close 13:00) the last is 12:00-13:00. TradingView's own default would start
  at the open (09:30, 10:30, …); IB's reqHistoricalData does not, and ours must match its history.
* 1 day: the exchange's session, open to close (early close on a half day). Its ``time`` is the
  session's date at 00:00 UTC, as TradingView's UDF dates daily bars and as IB names them
  ("20261127"), so a live daily bar and a backfilled one share one key.

Times are whole seconds since the epoch (UTC). The calendar is ``exchange_calendars``, the one
``orders.scheduling`` uses; an instrument's calendar code comes from its exchange (XNYS unless
its primary exchange says otherwise).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime

import exchange_calendars

from marketdata.resolutions import Resolution

DEFAULT_CALENDAR = "XNYS"
# IB's exchange names of US primary listings -> exchange_calendars codes. NASDAQ's hours and
# holidays are NYSE's, and exchange_calendars keeps it as an alias of XNYS.
CALENDAR_OF_EXCHANGE = {"NYSE": "XNYS", "NASDAQ": "XNYS", "ISLAND": "XNYS", "ARCA": "XNYS", "AMEX": "XNYS"}
CALENDAR_START = "2005-01-01"
CALENDAR_END = "2045-12-31"
DAY = 86_400


class UnknownCalendar(ValueError):
    """A calendar code exchange_calendars does not know; ``code`` is the stable error code."""

    code = "marketdata.unknown_calendar"


def calendar_code(exchange: str = "", primary_exchange: str = "", default: str = DEFAULT_CALENDAR) -> str:
    """The calendar code of an instrument listed on ``primary_exchange`` (or ``exchange``); ``default`` else."""
    for name in (primary_exchange, exchange):
        code = CALENDAR_OF_EXCHANGE.get((name or "").upper())
        if code:
            return code
    return default


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session: its date, open and close (epoch seconds) and the zone's UTC offset then."""

    day: date
    open: int
    close: int
    utc_offset: int

    @property
    def day_start(self) -> int:
        """The daily bar's ``time``: the session's date at 00:00 UTC."""
        return int(datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC).timestamp())

    def contains(self, t: float) -> bool:
        return self.open <= t < self.close


class SessionCalendar:
    """The sessions of one exchange calendar, looked up by instant or by date."""

    def __init__(self, code: str) -> None:
        try:
            with warnings.catch_warnings():
                # exchange_calendars 4.13 trips a pandas deprecation warning that is not ours to fix.
                warnings.simplefilter("ignore", category=Warning)
                calendar = exchange_calendars.get_calendar(code, start=CALENDAR_START, end=CALENDAR_END)
                schedule = calendar.schedule
        except exchange_calendars.errors.InvalidCalendarName as exc:
            raise UnknownCalendar(f"Unknown exchange calendar {code!r}.") from exc
        self.code = code
        self.tz = calendar.tz
        self._by_day: dict[date, Session] = {}
        for label, opens, closes in zip(schedule.index, schedule["open"], schedule["close"], strict=True):
            day = label.date()
            open_at = opens.to_pydatetime()
            self._by_day[day] = Session(
                day=day,
                open=int(open_at.timestamp()),
                close=int(closes.to_pydatetime().timestamp()),
                utc_offset=int(open_at.astimezone(self.tz).utcoffset().total_seconds()),
            )

    def on(self, day: date) -> Session | None:
        """The session on ``day`` (the exchange's date), or None on a weekend or holiday."""
        return self._by_day.get(day)

    def at(self, t: float) -> Session | None:
        """The session open at instant ``t`` (open <= t < close), or None outside trading hours."""
        day = datetime.fromtimestamp(t, tz=self.tz).date()
        session = self._by_day.get(day)
        return session if session is not None and session.contains(t) else None


@functools.lru_cache(maxsize=8)
def calendar(code: str = DEFAULT_CALENDAR) -> SessionCalendar:
    """The calendar ``code``, built once per process (about a second: forty years of sessions).

    Raises ``UnknownCalendar`` for a code exchange_calendars does not know.
    """
    return SessionCalendar(code)


def bar_bounds(resolution: Resolution, t: float, session: Session) -> tuple[int, int, int]:
    """``(time, start, end)`` of the bar of ``resolution`` holding instant ``t`` of ``session``.

    ``time`` names the bar (its start; for a daily bar the session's date at 00:00 UTC), ``start``
    and ``end`` bound the trades it holds (start <= t < end), cut to the session. ``t`` must lie
    in the session.
    """
    if resolution.daily:
        return session.day_start, session.open, session.close
    length = resolution.seconds
    # Floor in the exchange's local time: the same as UTC for whole-hour offsets, right for others.
    local = int(t) + session.utc_offset
    start = local - local % length - session.utc_offset
    start = max(start, session.open)
    end = min(start - (start + session.utc_offset) % length + length, session.close)
    return start, start, end
