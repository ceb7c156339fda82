"""Fire-time arithmetic: trading days, holidays, early closes and daylight saving (T26)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders import scheduling
from orders.scheduling import ScheduleInvalid, next_firings, occurrence_on, occurrences_between

NEW_YORK = ZoneInfo("America/New_York")


@dataclass
class Schedule:
    time_of_day: time = time(9, 35)
    time_zone: str = "America/New_York"
    weekdays: str = "0,1,2,3,4"
    valid_from: date | None = None
    valid_until: date | None = None
    exchange_calendar: str = "XNYS"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def pandas_instant(day: date, at: time, tz_name: str) -> datetime:
    """An independent computation: pandas' daylight-first, shift-forward-by-an-hour localisation."""
    stamp = pd.Timestamp(datetime.combine(day, at)).tz_localize(
        tz_name, ambiguous=True, nonexistent=pd.Timedelta(hours=1)
    )
    return stamp.tz_convert("UTC").to_pydatetime()


# --- trading days, holidays, early closes -------------------------------------------------


def test_a_morning_schedule_fires_on_the_next_five_trading_days_skipping_independence_day():
    firings = next_firings(Schedule(), count=5, now=utc(2024, 7, 2, 20, 0))

    assert [f.date() for f in firings] == [
        date(2024, 7, 3),
        date(2024, 7, 5),
        date(2024, 7, 8),
        date(2024, 7, 9),
        date(2024, 7, 10),
    ]
    assert all(f.astimezone(NEW_YORK).time() == time(9, 35) for f in firings)


def test_a_holiday_occurrence_is_skipped_with_its_reason():
    occurrence = occurrence_on(Schedule(), date(2025, 12, 25))

    assert occurrence is not None
    assert occurrence.skip_reason == scheduling.SKIP_HOLIDAY
    assert not occurrence.fires


def test_good_friday_is_a_holiday_for_the_new_york_stock_exchange():
    assert occurrence_on(Schedule(), date(2024, 3, 29)).skip_reason == scheduling.SKIP_HOLIDAY


def test_a_weekend_is_not_an_occurrence_of_a_weekday_schedule():
    assert occurrence_on(Schedule(), date(2024, 7, 6)) is None


def test_a_saturday_chosen_by_the_schedule_is_skipped_as_no_session():
    occurrence = occurrence_on(Schedule(weekdays="5"), date(2024, 7, 6))

    assert occurrence.skip_reason == scheduling.SKIP_HOLIDAY


def test_an_occurrence_after_the_early_close_is_skipped_and_one_before_it_fires():
    # 2024-11-29, the day after Thanksgiving: the NYSE closes at 13:00 New York time.
    late = occurrence_on(Schedule(time_of_day=time(15, 30)), date(2024, 11, 29))
    at_close = occurrence_on(Schedule(time_of_day=time(13, 0)), date(2024, 11, 29))
    early = occurrence_on(Schedule(time_of_day=time(9, 35)), date(2024, 11, 29))

    assert late.skip_reason == scheduling.SKIP_EARLY_CLOSE
    assert at_close.skip_reason == scheduling.SKIP_EARLY_CLOSE
    assert early.fires


def test_the_same_afternoon_time_fires_on_an_ordinary_day():
    assert occurrence_on(Schedule(time_of_day=time(15, 30)), date(2024, 11, 26)).fires


def test_validity_dates_bound_the_occurrences_inclusively():
    schedule = Schedule(valid_from=date(2024, 7, 9), valid_until=date(2024, 7, 10))

    firings = next_firings(schedule, count=5, now=utc(2024, 7, 1))

    assert [f.date() for f in firings] == [date(2024, 7, 9), date(2024, 7, 10)]


def test_a_schedule_that_can_never_fire_returns_no_firings():
    assert next_firings(Schedule(valid_until=date(2020, 1, 1)), now=utc(2024, 1, 1)) == []


def test_next_firings_are_strictly_after_now():
    due = occurrence_on(Schedule(), date(2024, 7, 3)).due_at

    assert next_firings(Schedule(), count=1, now=due)[0].date() == date(2024, 7, 5)
    assert next_firings(Schedule(), count=1, now=due - timedelta(microseconds=1))[0] == due


def test_occurrences_between_lists_skipped_ones_too_and_respects_the_half_open_range():
    found = occurrences_between(Schedule(), utc(2024, 7, 3, 13, 35), utc(2024, 7, 5, 13, 35))

    assert [(o.trading_date, o.skip_reason) for o in found] == [
        (date(2024, 7, 3), ""),
        (date(2024, 7, 4), scheduling.SKIP_HOLIDAY),
    ]


def test_occurrences_between_refuses_naive_datetimes():
    with pytest.raises(ValueError):
        occurrences_between(Schedule(), datetime(2024, 7, 3), utc(2024, 7, 5))


@pytest.mark.parametrize(
    ("field", "schedule"),
    [
        ("weekdays", Schedule(weekdays="0,7")),
        ("weekdays", Schedule(weekdays="")),
        ("weekdays", Schedule(weekdays="mon")),
        ("time_zone", Schedule(time_zone="Mars/Olympus")),
        ("exchange_calendar", Schedule(exchange_calendar="NOPE")),
        ("valid_until", Schedule(valid_from=date(2024, 2, 1), valid_until=date(2024, 1, 1))),
    ],
)
def test_an_invalid_schedule_is_refused_naming_its_field(field, schedule):
    with pytest.raises(ScheduleInvalid) as caught:
        scheduling.validate(schedule)

    assert caught.value.field == field
    assert caught.value.code == "schedule.invalid"


def test_a_date_outside_the_calendar_range_is_refused():
    with pytest.raises(scheduling.ScheduleOutOfCalendar):
        occurrence_on(Schedule(), date(2050, 1, 3))


# --- daylight saving (T26) -----------------------------------------------------------------


def test_a_morning_order_fires_at_local_0935_on_the_trading_days_either_side_of_both_dst_changes():
    # 2024: spring forward on Sunday 10 March, fall back on Sunday 3 November.
    assert occurrence_on(Schedule(), date(2024, 3, 8)).due_at == utc(2024, 3, 8, 14, 35)
    assert occurrence_on(Schedule(), date(2024, 3, 11)).due_at == utc(2024, 3, 11, 13, 35)
    assert occurrence_on(Schedule(), date(2024, 11, 1)).due_at == utc(2024, 11, 1, 13, 35)
    assert occurrence_on(Schedule(), date(2024, 11, 4)).due_at == utc(2024, 11, 4, 14, 35)


def test_a_morning_order_on_the_dst_sundays_themselves_fires_once_at_local_0935():
    every_day = Schedule(weekdays="0,1,2,3,4,5,6", exchange_calendar="")

    spring = occurrences_between(every_day, utc(2024, 3, 10), utc(2024, 3, 11))
    autumn = occurrences_between(every_day, utc(2024, 11, 3), utc(2024, 11, 4))

    assert [o.due_at for o in spring] == [utc(2024, 3, 10, 13, 35)]
    assert [o.due_at for o in autumn] == [utc(2024, 11, 3, 14, 35)]
    assert spring[0].note == autumn[0].note == ""


def test_a_nonexistent_spring_forward_time_is_shifted_forward_by_the_gap_with_a_note():
    schedule = Schedule(time_of_day=time(2, 30), weekdays="6", exchange_calendar="")

    occurrence = occurrence_on(schedule, date(2024, 3, 10))

    assert occurrence.due_at == utc(2024, 3, 10, 7, 30)
    assert occurrence.due_at.astimezone(NEW_YORK).time() == time(3, 30)
    assert "does not exist" in occurrence.note
    assert occurrence.fires


def test_a_doubled_fall_back_time_fires_once_at_its_first_occurrence():
    schedule = Schedule(time_of_day=time(1, 30), weekdays="0,1,2,3,4,5,6", exchange_calendar="")

    found = occurrences_between(schedule, utc(2024, 11, 2, 12), utc(2024, 11, 4, 12))

    fall_back = [o for o in found if o.trading_date == date(2024, 11, 3)]
    assert len(fall_back) == 1
    # 01:30 EDT (UTC-4) is 05:30 UTC; the second 01:30 (EST) would be 06:30 UTC.
    assert fall_back[0].due_at == utc(2024, 11, 3, 5, 30)
    assert "twice" in fall_back[0].note


def test_a_daily_schedule_has_exactly_one_occurrence_per_local_date_across_a_dst_year():
    schedule = Schedule(time_of_day=time(1, 30), weekdays="0,1,2,3,4,5,6", exchange_calendar="")

    found = occurrences_between(schedule, utc(2024, 1, 1, 12), utc(2025, 1, 1, 12))

    dates = [o.trading_date for o in found]
    assert len(dates) == len(set(dates)) == 366
    assert all(
        b.due_at - a.due_at in {timedelta(hours=23), timedelta(hours=24), timedelta(hours=25)}
        for a, b in itertools.pairwise(found)
    )


def test_a_london_schedule_follows_the_uk_dst_dates_not_the_us_ones():
    london = Schedule(time_of_day=time(14, 35), time_zone="Europe/London")

    # Between the US change (10 March) and the UK one (31 March) London is four hours ahead.
    assert occurrence_on(london, date(2024, 3, 15)).due_at == utc(2024, 3, 15, 14, 35)
    assert occurrence_on(london, date(2024, 4, 2)).due_at == utc(2024, 4, 2, 13, 35)


# --- properties over 2020-2035 ----------------------------------------------------------------

days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
times = st.times()
zones = st.sampled_from(["America/New_York", "America/Chicago", "Europe/London", "Asia/Tokyo", "UTC"])


@settings(max_examples=300, deadline=None)
@given(day=days, at=times, tz_name=zones)
def test_every_local_instant_agrees_with_pandas_daylight_first_shift_forward_localisation(day, at, tz_name):
    instant, note = scheduling.local_instant(day, at, ZoneInfo(tz_name))

    assert instant == pandas_instant(day, at, tz_name)
    local = instant.astimezone(ZoneInfo(tz_name))
    if note:
        assert ("does not exist" in note) == (local.replace(tzinfo=None) != datetime.combine(day, at))
    else:
        assert local.replace(tzinfo=None) == datetime.combine(day, at)


@settings(max_examples=150, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 6, 30), timezones=st.just(UTC)),
    at=st.times(min_value=time(9, 30), max_value=time(15, 59)),
    weekdays=st.sets(st.integers(0, 6), min_size=1).map(lambda s: ",".join(map(str, sorted(s)))),
)
def test_next_firings_are_increasing_sessions_on_chosen_weekdays_at_the_local_time(now, at, weekdays):
    schedule = Schedule(time_of_day=at, weekdays=weekdays)
    chosen = scheduling.parse_weekdays(weekdays)

    firings = next_firings(schedule, count=5, now=now)

    if chosen <= {5, 6}:
        assert firings == []
        return
    assert len(firings) == 5
    assert firings == sorted(set(firings))
    assert firings[0] > now
    for firing in firings:
        local = firing.astimezone(NEW_YORK)
        assert local.time() == at.replace(microsecond=at.microsecond)
        assert local.weekday() in chosen
        assert scheduling.calendar_is_session("XNYS", local.date())
        early = occurrence_on(schedule, local.date())
        assert early.fires
    # Nothing that fires is hidden between now and the last firing.
    between = [o.due_at for o in occurrences_between(schedule, now, firings[-1] + timedelta(microseconds=1)) if o.fires]
    assert [d for d in between if d > now] == firings


@settings(max_examples=100, deadline=None)
@given(day=days)
def test_holidays_never_fire_and_sessions_always_do_for_an_opening_time(day):
    occurrence = occurrence_on(Schedule(time_of_day=time(9, 35), weekdays="0,1,2,3,4,5,6"), day)

    assert occurrence.fires == scheduling.calendar_is_session("XNYS", day)
