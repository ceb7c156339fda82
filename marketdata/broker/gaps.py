"""Which closed regular-hours bars are missing, and the history requests that would fill them.

No database and no socket here: the backfill gives the bar starts it holds, this module gives back
the requests. Bars are cut and named as ``marketdata.sessions`` says (IB's way with useRTH=1: the
first hourly bar is 09:30-10:00; a daily bar is named by its session's date at 00:00 UTC), so a
backfilled bar and a live one share one key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from marketdata.resolutions import Resolution
from marketdata.sessions import SessionCalendar, bar_bounds

DAY = 86_400
# The longest span one request covers, by bar size (IB's table of valid durations per bar size).
MAX_SPAN = {"1": DAY, "5": 7 * DAY, "15": 7 * DAY, "60": 30 * DAY, "1D": 365 * DAY}
IB_TIME = "%Y%m%d-%H:%M:%S"


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """One reqHistoricalData that fills [start, end) of one instrument at one resolution."""

    instrument_id: int
    symbol: str
    resolution: Resolution
    start: datetime
    end: datetime

    @property
    def end_text(self) -> str:
        """endDateTime as TWS reads an explicit UTC time: ``yyyymmdd-hh:mm:ss``."""
        return self.end.astimezone(UTC).strftime(IB_TIME)

    @property
    def duration(self) -> str:
        """durationStr: exact seconds within a day; beyond a day, or for daily bars, whole days."""
        seconds = math.ceil((self.end - self.start).total_seconds())
        if seconds <= DAY and not self.resolution.daily:
            return f"{max(seconds, 60)} S"
        # Whole days count sessions at TWS, the one in progress at the end included: every date the
        # span touches is a day to ask for (more than the sessions, never fewer).
        return f"{(self.end.date() - self.start.date()).days + 1} D"

    @property
    def identity(self) -> tuple:
        """What makes two requests identical for IB's 15-second rule."""
        return (self.symbol, self.end_text, self.duration, self.resolution.ib_bar_size, "TRADES", 1)

    @property
    def contract(self) -> tuple:
        """What IB's 2-second rule counts together: contract, exchange and tick type."""
        return (self.symbol, "SMART", "TRADES")


def bar_start(resolution: Resolution, stamp: datetime | date) -> datetime:
    """The start under which a bar stamped ``stamp`` by TWS is kept (see the module docstring)."""
    if resolution.daily:
        day = stamp.date() if isinstance(stamp, datetime) else stamp
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    assert isinstance(stamp, datetime)
    return stamp.astimezone(UTC)


def expected_bars(
    resolution: Resolution, calendar: SessionCalendar, since: datetime, now: datetime
) -> list[tuple[datetime, datetime]]:
    """(start, end) of every bar of the regular sessions starting at or after ``since`` and closed by ``now``.

    Bars are cut as ``marketdata.sessions.bar_bounds`` cuts them (the live builder's and IB's way).
    """
    found = []
    first, last, now_s, since_s = since.date(), now.date(), now.timestamp(), since.timestamp()
    for offset in range((last - first).days + 1):
        session = calendar.on(first + timedelta(days=offset))
        if session is None:
            continue
        t = session.open
        while t < session.close:
            name, _start, end = bar_bounds(resolution, t, session)
            if name >= since_s - (DAY if resolution.daily else 0) and end <= now_s:
                found.append((_utc(name), _utc(end)))
            t = end
    return found


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def missing_runs(expected: list[tuple[datetime, datetime]], present: set[datetime]) -> list[tuple[datetime, datetime]]:
    """Runs of consecutive expected bars that are not in ``present``, as (first start, last end)."""
    runs: list[tuple[datetime, datetime]] = []
    in_run = False
    for start, end in expected:
        if start in present:
            in_run = False
            continue
        if in_run:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
            in_run = True
    return runs


def requests_for(
    instrument_id: int, symbol: str, resolution: Resolution, runs: list[tuple[datetime, datetime]]
) -> list[HistoryRequest]:
    """The fewest requests covering ``runs`` with none spanning more than its bar size allows."""
    span = timedelta(seconds=MAX_SPAN[resolution.code])
    requests: list[HistoryRequest] = []
    chunk_start = chunk_end = None
    for start, end in runs:
        while True:
            if chunk_start is None:
                chunk_start, chunk_end = start, min(end, start + span)
            elif end - chunk_start <= span:
                chunk_end = end
            else:
                requests.append(HistoryRequest(instrument_id, symbol, resolution, chunk_start, chunk_end))
                chunk_start, chunk_end = start, min(end, start + span)
            if chunk_end >= end:
                break
            # One run longer than a request may span: cut it and go on from the cut.
            requests.append(HistoryRequest(instrument_id, symbol, resolution, chunk_start, chunk_end))
            start, chunk_start = chunk_end, None
    if chunk_start is not None:
        requests.append(HistoryRequest(instrument_id, symbol, resolution, chunk_start, chunk_end))
    return requests
