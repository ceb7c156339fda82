"""When a scheduled order fires: pure fire-time arithmetic over an exchange calendar and time zones.

Nothing here touches the database or the clock unless given ``now``; ``services.schedule_firing``
turns these occurrences into orders.

The rules, in the desk's words (tested in ``orders/tests/test_scheduling.py``):

* A schedule names a local time of day in its own time zone (default ``America/New_York``).
  The trading date of an occurrence is the local date in that zone. Fire times are computed per
  trading date in the zone and converted to UTC; beat runs in UTC and never reasons about
  local clocks (the class of bug in celery #1604/#6438/#9653/#10107).
* Only the schedule's weekdays (Monday=0 … Sunday=6) and its ``valid_from`` … ``valid_until``
  dates (both inclusive) are considered at all.
* Exchange calendar (``exchange_calendars``, default ``XNYS``): a date that is not a session
  (a holiday, or a weekend the schedule nonetheless selects) is skipped (``holiday``). On an
  early-close day (the day after Thanksgiving, Christmas Eve…) an occurrence at or after the early
  close instant is skipped (``early_close``): the desk asked for a trade in a session that has
  ended. An empty calendar code means no exchange calendar: every selected weekday is a day.
* Daylight saving, spring forward: a local time that does not exist that day (02:30 on the US
  spring-forward day) is shifted forward by the length of the gap (02:30 → 03:30 daylight time),
  which is PEP 495's ``fold=0`` reading; the occurrence carries a note saying so.
* Daylight saving, fall back: a local time that exists twice (01:30 on the US fall-back day) fires
  once, at its first occurrence (daylight time, ``fold=0``).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import exchange_calendars

from tradeconsole.exceptions import ApplicationError

# The calendar is built once per code over this range; occurrences outside it are refused
# rather than guessed (exchange_calendars raises past its bounds too).
CALENDAR_START = date(2005, 1, 1)
CALENDAR_END = date(2045, 12, 31)
# next_firings looks this far ahead at most, so a schedule that can never fire returns [] fast.
SEARCH_DAYS = 800

SKIP_HOLIDAY = "holiday"
SKIP_EARLY_CLOSE = "early_close"


class ScheduleInvalid(ApplicationError):
    code = "schedule.invalid"
    http_status = 400
    default_message = "The schedule is not valid."


class ScheduleOutOfCalendar(ApplicationError):
    code = "schedule.out_of_calendar"
    http_status = 400
    default_message = "The date is outside the exchange calendar's range."


class ScheduleLike(Protocol):
    """The fields of ``ScheduledOrder`` the arithmetic reads (a model instance or any object)."""

    time_of_day: time
    time_zone: str
    weekdays: str
    valid_from: date | None
    valid_until: date | None
    exchange_calendar: str


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a schedule on one trading date.

    ``due_at`` is an aware UTC datetime. ``skip_reason`` is empty when the occurrence fires,
    else ``holiday`` or ``early_close``. ``note`` explains a daylight-saving adjustment.
    """

    trading_date: date
    due_at: datetime
    skip_reason: str = ""
    note: str = ""

    @property
    def fires(self) -> bool:
        return not self.skip_reason


@dataclass(frozen=True)
class _Calendar:
    sessions: frozenset[date]
    early_closes: dict[date, datetime]  # trading date → close instant (UTC)


@functools.lru_cache(maxsize=16)
def _calendar(code: str) -> _Calendar:
    try:
        with warnings.catch_warnings():
            # exchange_calendars 4.13 trips a pandas deprecation warning that is not ours to fix.
            warnings.simplefilter("ignore", category=Warning)
            calendar = exchange_calendars.get_calendar(
                code, start=CALENDAR_START.isoformat(), end=CALENDAR_END.isoformat()
            )
    except exchange_calendars.errors.InvalidCalendarName as exc:
        raise ScheduleInvalid(f"Unknown exchange calendar {code!r}.", field="exchange_calendar") from exc
    sessions = frozenset(ts.date() for ts in calendar.sessions)
    early = {ts.date(): calendar.session_close(ts).to_pydatetime().astimezone(UTC) for ts in calendar.early_closes}
    return _Calendar(sessions=sessions, early_closes=early)


def zone(name: str) -> ZoneInfo:
    """Return the IANA time zone ``name``.

    :raises ScheduleInvalid: no such zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleInvalid(f"Unknown time zone {name!r}.", field="time_zone") from exc


def parse_weekdays(text: str) -> frozenset[int]:
    """Parse ``"0,1,2,3,4"`` (Monday=0 … Sunday=6) into a set of weekday numbers.

    :raises ScheduleInvalid: not a comma-separated list of 0..6, or empty.
    """
    days: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 0 <= int(part) <= 6:
            raise ScheduleInvalid(f"Weekday {part!r} is not a number from 0 (Monday) to 6 (Sunday).", field="weekdays")
        days.add(int(part))
    if not days:
        raise ScheduleInvalid("Choose at least one weekday.", field="weekdays")
    return frozenset(days)


def validate(schedule: ScheduleLike) -> None:
    """Check that the schedule's time zone, weekdays, calendar and validity range make sense.

    :raises ScheduleInvalid: the first field that does not.
    """
    zone(schedule.time_zone)
    parse_weekdays(schedule.weekdays)
    if schedule.exchange_calendar:
        _calendar(schedule.exchange_calendar)
    if schedule.valid_from and schedule.valid_until and schedule.valid_until < schedule.valid_from:
        raise ScheduleInvalid("valid_until is before valid_from.", field="valid_until")


def local_instant(day: date, at: time, tz: ZoneInfo) -> tuple[datetime, str]:
    """Return the UTC instant of local time ``at`` on ``day`` in ``tz`` and a note on any DST rule used.

    A nonexistent local time is shifted forward by the gap; an ambiguous one takes its first
    occurrence (both are PEP 495 ``fold=0``), as the module docstring says.
    """
    naive = datetime.combine(day, at.replace(tzinfo=None, fold=0))
    local = naive.replace(tzinfo=tz)
    instant = local.astimezone(UTC)
    back = instant.astimezone(tz).replace(tzinfo=None)
    if back != naive:
        return instant, f"{at:%H:%M} does not exist on {day} in {tz.key} (clocks spring forward); fired at {back:%H:%M}"
    if naive.replace(fold=1).replace(tzinfo=tz).utcoffset() != local.utcoffset():
        return instant, f"{at:%H:%M} occurs twice on {day} in {tz.key} (clocks fall back); fired at the first"
    return instant, ""


def occurrence_on(schedule: ScheduleLike, day: date) -> Occurrence | None:
    """Return the schedule's occurrence on the local date ``day``, or None when it has none.

    None: the weekday is not selected or the date is outside ``valid_from``…``valid_until``.
    An occurrence on a holiday or after an early close is returned with its ``skip_reason``.

    :raises ScheduleInvalid: the schedule's fields do not parse.
    :raises ScheduleOutOfCalendar: ``day`` is outside the calendar's range.
    """
    if day.weekday() not in parse_weekdays(schedule.weekdays):
        return None
    if schedule.valid_from and day < schedule.valid_from:
        return None
    if schedule.valid_until and day > schedule.valid_until:
        return None
    due_at, note = local_instant(day, schedule.time_of_day, zone(schedule.time_zone))
    if not schedule.exchange_calendar:
        return Occurrence(day, due_at, "", note)
    if not CALENDAR_START <= day <= CALENDAR_END:
        raise ScheduleOutOfCalendar(f"{day} is outside {CALENDAR_START}…{CALENDAR_END}.")
    calendar = _calendar(schedule.exchange_calendar)
    if day not in calendar.sessions:
        return Occurrence(day, due_at, SKIP_HOLIDAY, note)
    early_close = calendar.early_closes.get(day)
    if early_close is not None and due_at >= early_close:
        return Occurrence(day, due_at, SKIP_EARLY_CLOSE, note)
    return Occurrence(day, due_at, "", note)


def _local_dates(schedule: ScheduleLike, start: datetime, end: datetime) -> Iterator[date]:
    tz = zone(schedule.time_zone)
    # A day either side: a local time near midnight can fall on either side of a UTC boundary.
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    while day <= last:
        yield day
        day += timedelta(days=1)


def occurrences_between(schedule: ScheduleLike, start: datetime, end: datetime) -> list[Occurrence]:
    """Return every occurrence (firing or skipped) with ``start <= due_at < end``, oldest first.

    :raises ValueError: ``start`` or ``end`` is naive.
    :raises ScheduleInvalid: the schedule's fields do not parse.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("start and end must be aware datetimes")
    found = []
    for day in _local_dates(schedule, start, end):
        occurrence = occurrence_on(schedule, day)
        if occurrence is not None and start <= occurrence.due_at < end:
            found.append(occurrence)
    return found


def next_firings(schedule: ScheduleLike, count: int = 5, now: datetime | None = None) -> list[datetime]:
    """Return the UTC instants of the schedule's next ``count`` firings strictly after ``now``.

    Holidays and occurrences after an early close are left out; ``enabled`` is not looked at
    (a paused schedule shows what it would do once resumed). Looks at most ``SEARCH_DAYS``
    ahead, so a schedule that can never fire returns fewer than ``count``.

    :raises ScheduleInvalid: the schedule's fields do not parse.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    firings: list[datetime] = []
    day = now.astimezone(zone(schedule.time_zone)).date() - timedelta(days=1)
    for _ in range(SEARCH_DAYS):
        if len(firings) >= count:
            break
        if schedule.valid_until and day > schedule.valid_until:
            break
        if schedule.exchange_calendar and day > CALENDAR_END:
            break
        occurrence = occurrence_on(schedule, day)
        if occurrence is not None and occurrence.fires and occurrence.due_at > now:
            firings.append(occurrence.due_at)
        day += timedelta(days=1)
    return firings


def calendar_is_session(code: str, day: date) -> bool:
    """Return whether ``day`` is a trading session of the exchange calendar ``code``."""
    return day in _calendar(code).sessions
