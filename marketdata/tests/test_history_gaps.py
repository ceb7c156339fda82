"""The gap finder: which regular-hours bars should exist, which are missing, and the requests that fill them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from marketdata import resolutions
from marketdata.broker import gaps
from marketdata.sessions import calendar

# The dates below are the data's own; the clock is pinned beside them all the same.
pytestmark = pytest.mark.clock(datetime(2026, 11, 25, 20, 0, tzinfo=UTC))

XNYS = calendar("XNYS")
# Wednesday 25 November 2026, 20:00 UTC (15:00 New York); Thursday is Thanksgiving, Friday a half day.
WEDNESDAY_3PM = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def test_a_full_day_has_390_one_minute_bars_and_seven_hourly_ones_the_first_from_the_open():
    since, now = _at(24, 0), _at(25, 0)
    minutes = gaps.expected_bars(resolutions.ONE_MINUTE, XNYS, since, now)
    hours = gaps.expected_bars(resolutions.ONE_HOUR, XNYS, since, now)
    assert len(minutes) == 390
    assert minutes[0] == (_at(24, 14, 30), _at(24, 14, 31))
    assert minutes[-1] == (_at(24, 20, 59), _at(24, 21, 0))
    assert [start.hour for start, _ in hours] == [14, 15, 16, 17, 18, 19, 20]
    assert hours[0] == (_at(24, 14, 30), _at(24, 15, 0))


def test_only_closed_bars_are_expected_and_no_bars_on_a_holiday_and_a_half_day_ends_at_one():
    since = _at(25, 0)
    now = _at(27, 23)
    five = gaps.expected_bars(resolutions.FIVE_MINUTES, XNYS, since, WEDNESDAY_3PM)
    assert five[-1] == (_at(25, 19, 55), _at(25, 20, 0))
    days = gaps.expected_bars(resolutions.ONE_DAY, XNYS, since, now)
    assert [start for start, _ in days] == [_at(25, 0), _at(27, 0)]
    assert days[1][1] == _at(27, 18, 0)  # the half day closes at 13:00 New York
    friday = [bar for bar in gaps.expected_bars(resolutions.ONE_HOUR, XNYS, since, now) if bar[0].day == 27]
    assert friday[-1] == (_at(27, 17), _at(27, 18))


def test_missing_runs_are_the_consecutive_expected_bars_not_held():
    expected = gaps.expected_bars(resolutions.FIFTEEN_MINUTES, XNYS, _at(24, 0), _at(25, 0))
    held = {start for start, _ in expected[:3]} | {start for start, _ in expected[10:]}
    assert gaps.missing_runs(expected, held) == [(expected[3][0], expected[9][1])]
    assert gaps.missing_runs(expected, {start for start, _ in expected}) == []


def test_a_run_within_a_day_is_asked_in_exact_seconds_with_an_explicit_utc_end():
    requests = gaps.requests_for(1, "AAPL", resolutions.ONE_MINUTE, [(_at(24, 15, 0), _at(24, 16, 30))])
    assert len(requests) == 1
    assert requests[0].end_text == "20261124-16:30:00"
    assert requests[0].duration == "5400 S"
    assert requests[0].identity == ("AAPL", "20261124-16:30:00", "5400 S", "1 min", "TRADES", 1)


def test_one_minute_runs_longer_than_a_day_are_cut_into_day_long_requests():
    start = _at(16, 14, 30)
    runs = [(start, start + timedelta(days=2, hours=3))]
    requests = gaps.requests_for(1, "AAPL", resolutions.ONE_MINUTE, runs)
    assert [(r.start, r.end) for r in requests] == [
        (start, start + timedelta(days=1)),
        (start + timedelta(days=1), start + timedelta(days=2)),
        (start + timedelta(days=2), start + timedelta(days=2, hours=3)),
    ]
    assert [r.duration for r in requests] == ["86400 S", "86400 S", "10800 S"]


def test_runs_close_together_share_one_request_and_daily_bars_are_asked_in_days():
    runs = [(_at(16, 14, 30), _at(16, 15)), (_at(18, 20), _at(18, 21))]
    five = gaps.requests_for(1, "MSFT", resolutions.FIVE_MINUTES, runs)
    assert [(r.start, r.end, r.duration) for r in five] == [(_at(16, 14, 30), _at(18, 21), "3 D")]
    daily = gaps.requests_for(1, "MSFT", resolutions.ONE_DAY, [(_at(24, 0), _at(24, 21))])
    assert (daily[0].duration, daily[0].end_text) == ("1 D", "20261124-21:00:00")


def test_a_bar_is_kept_under_its_stamp_and_a_day_under_its_date_at_midnight_utc():
    stamp = _at(24, 14, 30)
    assert gaps.bar_start(resolutions.ONE_HOUR, stamp) == stamp
    assert gaps.bar_start(resolutions.ONE_DAY, stamp.date()) == _at(24, 0)
