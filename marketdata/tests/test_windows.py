"""The window reader: the last N ticks or bars of a symbol, oldest first, from real Redis."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from execution_worker import messages as m
from marketdata import bars, resolutions
from marketdata.keys import MarketKeys
from marketdata.windows import MAX_WINDOW, BadWindow, Windows


def _push_bar(client, keys: MarketKeys, t: int, close: str) -> None:
    bar = bars.opened("AAPL", "1", t, Decimal(close), Decimal(10))
    client.lpush(keys.closed_bars("AAPL", "1"), bars.BarRecord(**{**_fields(bar), "closed": True}).encode())


def _fields(bar: bars.BarRecord) -> dict:
    return {name: getattr(bar, name) for name in bar.__slots__}


def test_last_ticks_come_oldest_first_and_skip_an_entry_that_does_not_decode(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    for last in ("190.00", "190.01", "190.02"):
        client.xadd(keys.ticks("AAPL"), m.encode(m.MarketData(symbol="AAPL", last=Decimal(last))))
    client.xadd(keys.ticks("AAPL"), {"type": "md.tick", "data": "{not json"})

    ticks = Windows(client, prefix).last_ticks("aapl", 3)

    assert [t.quote.last for t in ticks] == [Decimal("190.01"), Decimal("190.02")]
    assert ticks[0].entry_id < ticks[1].entry_id


def test_last_bars_are_the_newest_closed_ones_oldest_first_with_the_forming_bar_last(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    for i, close in enumerate(("10", "11", "12", "13")):
        _push_bar(client, keys, 60 * i, close)
    client.set(keys.forming_bar("AAPL", "1"), bars.opened("AAPL", "1", 240, Decimal("14"), Decimal(1)).encode())
    windows = Windows(client, prefix)

    closed = windows.last_bars("AAPL", "1", 2)
    with_forming = windows.last_bars("AAPL", "1", 2, forming=True)

    assert [(b.time, b.close, b.closed) for b in closed] == [(120, Decimal("12"), True), (180, Decimal("13"), True)]
    assert [(b.time, b.closed) for b in with_forming] == [(120, True), (180, True), (240, False)]


def test_an_empty_window_is_an_empty_list(market_redis):
    client, prefix = market_redis
    assert Windows(client, prefix).last_bars("MSFT", "5", 100, forming=True) == []
    assert Windows(client, prefix).last_ticks("MSFT", 100) == []


@pytest.mark.parametrize("count", [0, -1, MAX_WINDOW + 1, True, "10", 1.5])
def test_a_bad_count_is_refused_with_a_stable_code(market_redis, count):
    client, prefix = market_redis
    with pytest.raises(BadWindow) as refused:
        Windows(client, prefix).last_bars("AAPL", "1", count)
    assert refused.value.code == "marketdata.bad_window"


def test_an_unknown_resolution_is_refused_with_a_stable_code(market_redis):
    client, prefix = market_redis
    with pytest.raises(resolutions.BadResolution) as refused:
        Windows(client, prefix).last_bars("AAPL", "7", 10)
    assert refused.value.code == "marketdata.bad_resolution"


@pytest.mark.parametrize(("given", "code"), [("1", "1"), ("D", "1D"), ("1d", "1D"), ("60", "60"), (" 15 ", "15")])
def test_resolutions_read_udf_spellings(given, code):
    assert resolutions.parse(given).code == code


def test_a_bar_survives_its_encoding_and_garbage_is_refused():
    bar = bars.opened("AAPL", "5", 300, Decimal("190.123456"), Decimal("3")).with_trade(Decimal("189.5"), Decimal("2"))
    assert bars.decode(bar.encode()) == bar
    assert bar.encode() == json.dumps(bar.as_dict(), separators=(",", ":"))  # the text the topics pass on
    assert (bar.high, bar.low, bar.close, bar.volume) == (Decimal("190.123456"), Decimal("189.5"), Decimal("189.5"), 5)
    bad_time = '{"symbol":"A","resolution":"1","time":"x","open":"1","high":"1","low":"1","close":"1"}'
    for raw in ("", "[]", '{"symbol": "A"}', bad_time):
        with pytest.raises(bars.BadBar):
            bars.decode(raw)


def test_the_keys_shared_with_the_worker_are_the_workers_names():
    from execution_worker.messages.names import StreamNames

    assert MarketKeys("tcx").ticks("AAPL") == StreamNames("tcx").md("AAPL")
    assert MarketKeys("tcx").wanted_symbols == StreamNames("tcx").md_wanted
