"""The datafeed's history: hand-made bars in PostgreSQL, the forming bar in real Redis, exact arrays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.conf import settings

from marketdata import bars
from marketdata.keys import MarketKeys
from marketdata.models import Bar
from streams.redis_client import get_redis

# The dates below are the data's own; the clock is pinned beside them all the same.
pytestmark = pytest.mark.clock(datetime(2026, 3, 2, 16, 0, tzinfo=UTC))

URL = "/api/v1/datafeed/history"
T0 = int(datetime(2026, 3, 2, 14, 30, tzinfo=UTC).timestamp())  # a Monday's open, 09:30 New York


@pytest.fixture
def keys():
    """This test run's market-data keys; the bars and ticks written under them go at the end."""
    keys = MarketKeys(settings.STREAM_PREFIX)
    yield keys
    client = get_redis()
    for pattern in (f"{keys.prefix}:bars:*", f"{keys.prefix}:md:*"):
        found = list(client.scan_iter(match=pattern, count=1000))
        if found:
            client.delete(*found)


@pytest.fixture
def client(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


def _bar(instrument, minute: int, close: str, *, resolution: str = "1", volume: str = "100") -> Bar:
    price = Decimal(close)
    return Bar.objects.create(
        instrument=instrument,
        resolution=resolution,
        start=datetime.fromtimestamp(T0 + 60 * minute, UTC),
        open=price - 1,
        high=price + 1,
        low=price - 2,
        close=price,
        volume=Decimal(volume),
    )


def _history(client, **params):
    response = client.get(URL, {"symbol": "AAPL", "resolution": "1", **params})
    return response.status_code, response.json()


def test_history_answers_the_bars_of_the_range_as_exact_arrays(client, instrument):
    for minute, close in enumerate(("190.10", "190.20", "190.30", "190.40")):
        _bar(instrument, minute, close, volume=str(100 + minute))
    _bar(instrument, 1, "999", resolution="5")  # another resolution is not in the answer

    status, body = _history(client, **{"from": T0 + 60, "to": T0 + 180})

    assert status == 200
    assert body == {
        "s": "ok",
        "t": [T0 + 60, T0 + 120],
        "o": [189.2, 189.3],
        "h": [191.2, 191.3],
        "l": [188.2, 188.3],
        "c": [190.2, 190.3],
        "v": [101.0, 102.0],
    }


def test_bars_come_oldest_first_whatever_order_they_were_stored_in(client, instrument):
    for minute in (5, 1, 4, 0, 3, 2):
        _bar(instrument, minute, str(100 + minute))

    _, body = _history(client, **{"from": T0, "to": T0 + 600})

    assert body["t"] == [T0 + 60 * m for m in range(6)]
    assert body["c"] == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]


def test_from_is_included_and_to_is_not(client, instrument):
    for minute in range(3):
        _bar(instrument, minute, "100")

    _, body = _history(client, **{"from": T0, "to": T0 + 120})

    assert body["t"] == [T0, T0 + 60]


def test_countback_gives_at_least_that_many_bars_ending_before_to(client, instrument):
    for minute in range(10):
        _bar(instrument, minute, str(100 + minute))

    _, few_in_range = _history(client, **{"from": T0 + 480, "to": T0 + 600, "countback": 4})
    _, many_in_range = _history(client, **{"from": T0, "to": T0 + 600, "countback": 2})
    _, without_from = _history(client, to=T0 + 300, countback=3)
    _, more_than_exist = _history(client, to=T0 + 180, countback=50)

    assert few_in_range["t"] == [T0 + 60 * m for m in (6, 7, 8, 9)]
    assert few_in_range["c"] == [106.0, 107.0, 108.0, 109.0]
    assert many_in_range["t"] == [T0 + 60 * m for m in range(10)]
    assert without_from["t"] == [T0 + 120, T0 + 180, T0 + 240]
    assert more_than_exist["t"] == [T0, T0 + 60, T0 + 120]


def test_an_empty_range_is_no_data_with_the_time_of_the_newest_earlier_bar(client, instrument):
    _bar(instrument, 0, "100")
    _bar(instrument, 5, "101")

    _, after_a_gap = _history(client, **{"from": T0 + 3600, "to": T0 + 7200})
    _, before_everything = _history(client, **{"from": T0 - 7200, "to": T0 - 3600})

    assert after_a_gap == {"s": "no_data", "nextTime": T0 + 300}
    assert before_everything == {"s": "no_data"}


def test_the_forming_bar_is_appended_when_to_reaches_it(client, instrument, keys):
    _bar(instrument, 0, "100")
    _bar(instrument, 1, "101")
    forming = bars.BarRecord("AAPL", "1", T0 + 120, Decimal("101.5"), Decimal("102.25"), Decimal("101"), Decimal("102"))
    get_redis().set(
        keys.forming_bar("AAPL", "1"), bars.BarRecord(**{**_fields(forming), "volume": Decimal(7)}).encode()
    )

    _, reaching = _history(client, **{"from": T0, "to": T0 + 180})
    _, before_it = _history(client, **{"from": T0, "to": T0 + 120})
    _, only_it = _history(client, **{"from": T0 + 120, "to": T0 + 180})

    assert reaching["t"] == [T0, T0 + 60, T0 + 120]
    assert (reaching["o"][-1], reaching["h"][-1], reaching["l"][-1], reaching["c"][-1], reaching["v"][-1]) == (
        101.5,
        102.25,
        101.0,
        102.0,
        7.0,
    )
    assert before_it["t"] == [T0, T0 + 60]
    assert only_it["t"] == [T0 + 120]


def test_a_forming_bar_already_closed_in_postgresql_is_not_repeated(client, instrument, keys):
    _bar(instrument, 0, "100")
    stale = bars.opened("AAPL", "1", T0, Decimal("1"), Decimal(1))
    get_redis().set(keys.forming_bar("AAPL", "1"), stale.encode())

    _, body = _history(client, **{"from": T0, "to": T0 + 60})

    assert body["t"] == [T0]
    assert body["c"] == [100.0]


def test_symbols_are_read_as_charts_send_them_and_resolution_aliases_are_accepted(client, instrument):
    _bar(instrument, 0, "100", resolution="1D")

    response = client.get(URL, {"symbol": "nasdaq:aapl", "resolution": "D", "from": T0 - 86400, "to": T0 + 86400})

    assert response.json()["t"] == [T0]


def _fields(bar: bars.BarRecord) -> dict:
    return {name: getattr(bar, name) for name in bar.__slots__}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "ZZZZ"}, "marketdata.unknown_symbol"),
        ({"symbol": "x" * 65}, "marketdata.unknown_symbol"),
        ({"resolution": "7"}, "marketdata.bad_resolution"),
        ({"resolution": "1W"}, "marketdata.bad_resolution"),
        ({"from": T0 + 60, "to": T0}, "marketdata.bad_range"),
        ({"from": T0, "to": T0}, "marketdata.bad_range"),
        ({"from": "yesterday"}, "marketdata.bad_range"),
        ({"from": -5}, "marketdata.bad_range"),
        ({"to": 10**15}, "marketdata.bad_range"),
        ({"from": T0 - 367 * 86400}, "marketdata.range_too_long"),
        ({"countback": 0}, "marketdata.bad_countback"),
        ({"countback": "many"}, "marketdata.bad_countback"),
        ({"countback": 10**9}, "marketdata.bad_countback"),
        ({"symbol": None}, "marketdata.missing_parameter"),
        ({"resolution": None}, "marketdata.missing_parameter"),
        ({"to": None}, "marketdata.missing_parameter"),
        ({"from": None}, "marketdata.missing_parameter"),
        ({"symbol": ""}, "marketdata.missing_parameter"),
    ],
)
def test_bad_history_requests_are_refused_with_a_stable_code(client, instrument, params, code):
    query = {"symbol": "AAPL", "resolution": "1", "from": T0, "to": T0 + 3600, **params}
    response = client.get(URL, {name: value for name, value in query.items() if value is not None})

    assert response.status_code == 400
    body = response.json()
    assert body["s"] == "error" and body["code"] == code and body["errmsg"]


def test_a_year_of_one_minute_bars_is_within_the_range_limit_at_one_minute_but_not_beyond(client, instrument):
    year = int(timedelta(days=366).total_seconds())

    within = client.get(URL, {"symbol": "AAPL", "resolution": "1", "from": T0 - year, "to": T0})
    daily = client.get(URL, {"symbol": "AAPL", "resolution": "1D", "from": T0 - 10 * year, "to": T0})

    assert within.status_code == 200 and within.json() == {"s": "no_data"}
    assert daily.status_code == 200


def test_history_needs_a_desk_role(api_client, user, instrument):
    api_client.force_authenticate(user)

    response = api_client.get(URL, {"symbol": "AAPL", "resolution": "1", "from": T0, "to": T0 + 60})

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_history_needs_a_signed_in_caller(api_client, instrument):
    response = api_client.get(URL, {"symbol": "AAPL", "resolution": "1", "from": T0, "to": T0 + 60})

    assert response.status_code == 401
