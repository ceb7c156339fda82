"""The datafeed's other endpoints: config, time, symbol info, search, marks of the desk's fills, quotes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings

from execution_worker import messages as m
from marketdata import bars, broker_quiet, lookups, search
from marketdata.keys import MarketKeys
from marketdata.models import Bar
from marketdata.tests.helpers import LookupResponder
from orders.tests.factories import FillFactory, InstrumentFactory, OrderFactory
from streams.redis_client import get_redis

BASE = "/api/v1/datafeed"
NOW = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in New York


@pytest.fixture
def keys():
    """This run's market-data keys, emptied at the end (ticks, bars, lookups)."""
    keys = MarketKeys(settings.STREAM_PREFIX)
    broker_quiet.reset()
    yield keys
    client = get_redis()
    for pattern in (f"{keys.prefix}:bars:*", f"{keys.prefix}:md:*", f"{keys.prefix}:marketdata:*"):
        found = list(client.scan_iter(match=pattern, count=1000))
        if found:
            client.delete(*found)
    broker_quiet.reset()


@pytest.fixture
def client(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


def test_config_names_the_resolutions_features_and_the_desks_exchanges(client, instrument):
    InstrumentFactory(symbol="IBM", primary_exchange="NYSE")

    body = client.get(f"{BASE}/config").json()

    assert body["supported_resolutions"] == ["1", "5", "15", "60", "1D"]
    assert (body["supports_search"], body["supports_group_request"], body["supports_marks"], body["supports_time"]) == (
        True,
        False,
        True,
        True,
    )
    assert [e["value"] for e in body["exchanges"]] == ["", "NASDAQ", "NYSE"]
    assert {"name": "Stock", "value": "stock"} in body["symbols_types"]


def test_time_is_the_servers_clock_in_epoch_seconds_as_text(client):
    with time_machine.travel(NOW, tick=False):
        response = client.get(f"{BASE}/time")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == str(int(NOW.timestamp()))


def test_symbol_info_describes_the_instrument_as_udf_does(client):
    InstrumentFactory(
        symbol="BRKB", primary_exchange="NYSE", description="Berkshire B", min_tick=Decimal("0.05"), con_id=1
    )

    body = client.get(f"{BASE}/symbols", {"symbol": "NYSE:brkb"}).json()

    assert body == {
        "name": "BRKB",
        "ticker": "BRKB",
        "full_name": "NYSE:BRKB",
        "description": "Berkshire B",
        "type": "stock",
        "session": "0930-1600",
        "timezone": "America/New_York",
        "exchange": "NYSE",
        "listed_exchange": "NYSE",
        "currency_code": "USD",
        "minmov": 5,
        "pricescale": 100,
        "has_intraday": True,
        "has_daily": True,
        "intraday_multipliers": ["1", "5", "15", "60"],
        "supported_resolutions": ["1", "5", "15", "60", "1D"],
        "volume_precision": 0,
        "data_status": "streaming",
    }


@pytest.mark.parametrize(
    ("query", "code"), [({}, "marketdata.missing_parameter"), ({"symbol": "NOPE"}, "marketdata.unknown_symbol")]
)
def test_symbol_info_refuses_a_missing_or_unknown_symbol(client, instrument, query, code):
    response = client.get(f"{BASE}/symbols", query)

    assert response.status_code == 400
    assert response.json()["s"] == "error" and response.json()["code"] == code


class MatchingBroker(LookupResponder):
    """A responder on the lookups stream answering reqMatchingSymbols with fixed matches."""

    def __init__(self, keys: MarketKeys, matches: list[lookups.SymbolMatch]) -> None:
        super().__init__(keys)
        self.matches = matches

    def answer(self, request: lookups.LookupRequest) -> str:
        self.asked.append(request.query)
        return lookups.encode_answer([x.as_dict() for x in self.matches if x.symbol.startswith(request.query.upper())])


def test_search_answers_the_desks_instruments_without_asking_the_broker(client, instrument, keys):
    InstrumentFactory(symbol="AAPB", description="Leveraged AAPL")
    InstrumentFactory(symbol="MSFT", description="Microsoft")

    with MatchingBroker(keys, []) as broker:
        body = client.get(f"{BASE}/search", {"query": "aapl"}).json()

    assert [r["symbol"] for r in body] == ["AAPL", "AAPB"]
    assert (
        body[0]
        == {
            "symbol": "AAPL",
            "full_name": "SMART:AAPL",
            "description": "AAPL",
            "exchange": "SMART",
            "ticker": "AAPL",
            "type": "stock",
        }
        or body[0]["description"]
    )
    assert broker.asked == []


def test_search_adds_the_brokers_matches_when_the_desk_lacks_the_symbol(client, instrument, keys):
    matches = [
        lookups.SymbolMatch("NFLX", "STK", "NASDAQ", "USD", "NETFLIX INC"),
        lookups.SymbolMatch("NFLX1", "OPT", "CBOE", "USD", "an option"),
    ]
    with MatchingBroker(keys, matches) as broker:
        body = client.get(f"{BASE}/search", {"query": "NFL", "limit": 5}).json()

    assert broker.asked == ["NFL"]
    assert body == [
        {
            "symbol": "NFLX",
            "full_name": "NASDAQ:NFLX",
            "description": "NETFLIX INC",
            "exchange": "NASDAQ",
            "ticker": "NFLX",
            "type": "stock",
        }
    ]


def test_search_fails_soft_when_the_broker_does_not_answer(client, instrument, keys, monkeypatch):
    monkeypatch.setattr(search, "BROKER_TIMEOUT", 0.2)

    first = client.get(f"{BASE}/search", {"query": "AA"})
    with MatchingBroker(keys, [lookups.SymbolMatch("AAL", "STK", "NASDAQ", "USD", "American")]) as broker:
        quiet = client.get(f"{BASE}/search", {"query": "AA"})

    assert first.status_code == 200 and [r["symbol"] for r in first.json()] == ["AAPL"]
    # Within the quiet period the broker is not asked again: a search box does not wait on it.
    assert [r["symbol"] for r in quiet.json()] == ["AAPL"] and broker.asked == []


def test_search_of_another_type_is_empty_and_a_bad_limit_is_refused(client, instrument):
    assert client.get(f"{BASE}/search", {"query": "AAPL", "type": "futures"}).json() == []
    refused = client.get(f"{BASE}/search", {"query": "AAPL", "limit": 0})
    assert refused.status_code == 400 and refused.json()["code"] == "marketdata.bad_parameter"


def test_marks_show_only_the_callers_accounts_fills(client, account, other_account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    at = NOW - timedelta(minutes=5)
    mine = FillFactory(
        account=account,
        instrument=instrument,
        order=order,
        side="BUY",
        quantity=Decimal("100"),
        price=Decimal("190.25"),
        executed_at=at,
    )
    sold = FillFactory(
        account=account,
        instrument=instrument,
        side="SELL",
        quantity=Decimal("40"),
        price=Decimal("191"),
        executed_at=at + timedelta(minutes=1),
    )
    FillFactory(account=other_account, instrument=instrument, executed_at=at)  # another desk's
    FillFactory(account=account, instrument=InstrumentFactory(symbol="MSFT"), executed_at=at)  # another symbol
    FillFactory(account=account, instrument=instrument, executed_at=NOW + timedelta(hours=1))  # after `to`

    response = client.get(
        f"{BASE}/marks",
        {
            "symbol": "AAPL",
            "from": int((NOW - timedelta(hours=1)).timestamp()),
            "to": int(NOW.timestamp()),
            "resolution": "1",
        },
    )

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": mine.pk,
            "time": int(at.timestamp()),
            "color": "green",
            "text": "Bought 100 AAPL @ 190.25 (DU0000001)",
            "label": "B",
            "labelFontColor": "white",
            "minSize": 14,
            "side": "BUY",
            "quantity": "100",
            "price": "190.25",
            "order_id": str(order.client_order_id),
            "account": "DU0000001",
        },
        {
            "id": sold.pk,
            "time": int(at.timestamp()) + 60,
            "color": "red",
            "text": "Sold 40 AAPL @ 191 (DU0000001)",
            "label": "S",
            "labelFontColor": "white",
            "minSize": 14,
            "side": "SELL",
            "quantity": "40",
            "price": "191",
            "order_id": None,
            "account": "DU0000001",
        },
    ]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"resolution": "2"}, "marketdata.bad_resolution"),
        ({"from": 200}, "marketdata.bad_range"),
        ({"to": None}, "marketdata.missing_parameter"),
        ({"symbol": "NOPE"}, "marketdata.unknown_symbol"),
    ],
)
def test_bad_marks_requests_are_refused_with_a_stable_code(client, instrument, params, code):
    query = {"symbol": "AAPL", "from": 100, "to": 200, **params}
    response = client.get(f"{BASE}/marks", {k: v for k, v in query.items() if v is not None})

    assert response.status_code == 400 and response.json()["code"] == code


def _tick(keys: MarketKeys, symbol: str, **quote) -> None:
    fields = {name: Decimal(value) for name, value in quote.items()}
    get_redis().xadd(keys.ticks(symbol), m.encode(m.MarketData(symbol=symbol, **fields)))


def test_quotes_come_from_the_tick_streams_with_the_change_since_the_last_close(client, instrument, keys):
    InstrumentFactory(symbol="MSFT", description="Microsoft", primary_exchange="NASDAQ", last_price=Decimal("400"))
    yesterday = datetime(2026, 3, 2, tzinfo=UTC)  # daily bars start at the session's date, 00:00 UTC
    for day, close in (
        (yesterday - timedelta(days=1), "180"),
        (yesterday, "200"),
        (datetime(2026, 3, 3, tzinfo=UTC), "1"),
    ):
        Bar.objects.create(
            instrument=instrument, resolution="1D", start=day, open=1, high=500, low=1, close=Decimal(close)
        )
    _tick(keys, "AAPL", bid="209.90", ask="210.10", last="209.00")
    _tick(keys, "AAPL", last="210.00")  # only the last price moved
    today = bars.opened(
        "AAPL", "1D", int(datetime(2026, 3, 3, tzinfo=UTC).timestamp()), Decimal("205"), Decimal("12345")
    )
    get_redis().set(keys.forming_bar("AAPL", "1D"), today.encode())

    with time_machine.travel(NOW, tick=False):
        body = client.get(f"{BASE}/quotes", {"symbols": "AAPL,msft,NOPE"}).json()

    assert body == {
        "s": "ok",
        "d": [
            {
                "s": "ok",
                "n": "AAPL",
                "v": {
                    "lp": 210.0,
                    "bid": 209.9,
                    "ask": 210.1,
                    "volume": 12345.0,
                    "ch": 10.0,
                    "chp": 5.0,
                    "short_name": "AAPL",
                    "exchange": "NASDAQ",
                    "description": "AAPL",
                },
            },
            {
                "s": "ok",
                "n": "MSFT",
                "v": {
                    "lp": 400.0,
                    "bid": None,
                    "ask": None,
                    "volume": 0.0,
                    "ch": None,
                    "chp": None,
                    "short_name": "MSFT",
                    "exchange": "NASDAQ",
                    "description": "Microsoft",
                },
            },
            {"s": "error", "n": "NOPE", "v": {}},
        ],
    }


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "marketdata.missing_parameter"),
        ({"symbols": ","}, "marketdata.missing_parameter"),
        ({"symbols": ",".join(f"S{n}" for n in range(101))}, "marketdata.too_many_symbols"),
    ],
)
def test_bad_quotes_requests_are_refused_with_a_stable_code(client, params, code):
    response = client.get(f"{BASE}/quotes", params)

    assert response.status_code == 400 and response.json()["code"] == code


def test_the_datafeed_needs_a_desk_role(api_client, user):
    api_client.force_authenticate(user)

    for path in ("config", "time", "symbols?symbol=AAPL", "search?query=A", "quotes?symbols=AAPL"):
        assert api_client.get(f"{BASE}/{path}").status_code == 403
