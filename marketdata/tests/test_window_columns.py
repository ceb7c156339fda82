"""The window reader's columns: the same ticks and bars as its records, as float arrays, from real Redis."""

from __future__ import annotations

import json
import math
from decimal import Decimal

import numpy as np
import pytest
import redis
from django.conf import settings
from hypothesis import given
from hypothesis import strategies as st

from execution_worker import messages as m
from marketdata import bars, resolutions
from marketdata import windows as windows_module
from marketdata.keys import MarketKeys
from marketdata.ticks import QUOTE_FIELDS, BadTick, quote_floats, read_quote
from marketdata.windows import MAX_WINDOW, BadWindow, Windows

D = Decimal


def _tick(**quote) -> dict:
    return m.encode(m.MarketData(symbol="AAPL", **{name: D(value) for name, value in quote.items()}))


def _write_ticks_with_bad_entries_between(client, prefix: str) -> None:
    """Quotes as the worker writes them (one before any trade) with entries the readers must skip."""
    stream = MarketKeys(prefix).ticks("AAPL")
    good = _tick(bid="189.99", ask="190.01", last="190", bid_size=100, ask_size=200, last_size=300)
    data = good["data"]
    client.xadd(stream, _tick(bid="189.98", ask="190.02"))
    client.xadd(stream, good)
    for bad in (
        {**good, "data": "{not json"},
        {**good, "data": data.replace('"190.01"', '"-190.01"')},
        {**good, "data": data.replace('"190.01"', '"NaN"')},
        {**good, "data": data.replace('"190.01"', "190.01")},  # a JSON number, not a decimal string
        {**good, "data": data.replace('"190.01"', "true")},
        {**good, "data": data.replace('"symbol":"AAPL"', '"symbol":"AAPL","colour":"red"')},
        {**good, "v": "2"},
        {**good, "ts": "soon"},
        {k: v for k, v in good.items() if k != "id"},
    ):
        client.xadd(stream, bad)
    client.xadd(stream, _tick(bid="190", ask="190.03", last="190.02", last_size=5))
    client.xadd(stream, {**good, "data": data.replace('"300"', "301")})  # an integer size is a decimal too
    client.xadd(stream, good)  # the same data as an earlier entry, at another time


def _as_floats(ticks) -> dict[str, list[float]]:
    return {name: [float(getattr(t.quote, name) or "nan") for t in ticks] for name in QUOTE_FIELDS}


def _tick_columns_equal(columns, ticks) -> None:
    assert columns.entry_ids == [t.entry_id for t in ticks]
    assert columns.ts.tolist() == [t.ts for t in ticks]
    for name, expected in _as_floats(ticks).items():
        np.testing.assert_array_equal(getattr(columns, name), expected, err_msg=name)


def test_tick_columns_hold_the_ticks_the_record_reader_reads_skipping_the_same_entries(market_redis):
    client, prefix = market_redis
    _write_ticks_with_bad_entries_between(client, prefix)
    windows = Windows(client, prefix)

    records, columns = windows.last_ticks("AAPL", 100), windows.tick_columns("aapl", 100)

    assert len(records) == len(columns) == 5
    _tick_columns_equal(columns, records)
    assert math.isnan(columns.last[0]) and columns.bid[0] == 189.98  # the quote before any trade
    assert columns.last_size.tolist()[1:] == [300, 5, 301, 300]
    assert columns.symbol == "AAPL" and columns.ts.dtype == np.int64 and columns.last.dtype == np.float64
    for name in QUOTE_FIELDS:  # one contiguous array per field, as TA-Lib takes them
        assert getattr(columns, name).flags.c_contiguous
    _tick_columns_equal(windows.tick_columns("AAPL", 100), records)  # read again from what it remembers


def test_tick_columns_of_a_short_window_count_entries_as_the_records_do_and_read_bytes_alike(market_redis):
    client, prefix = market_redis
    _write_ticks_with_bad_entries_between(client, prefix)
    undecoded = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for count in (1, 3, 12):
            records = Windows(client, prefix).last_ticks("AAPL", count)
            _tick_columns_equal(Windows(client, prefix).tick_columns("AAPL", count), records)
            _tick_columns_equal(Windows(undecoded, prefix).tick_columns("AAPL", count), records)
        assert len(records) == 3  # the last 12 entries hold the 9 bad ones
    finally:
        undecoded.close()


def test_a_reader_read_again_slides_with_the_stream(market_redis):
    client, prefix = market_redis
    stream = MarketKeys(prefix).ticks("AAPL")
    windows = Windows(client, prefix)
    for last in ("1.00", "1.01", "1.02"):
        client.xadd(stream, _tick(last=last))
    assert windows.tick_columns("AAPL", 2).last.tolist() == [1.01, 1.02]

    client.xadd(stream, _tick(last="1.03"))
    client.xadd(stream, _tick(last="1.01"))  # a quote seen before comes again

    again = windows.tick_columns("AAPL", 3)
    assert again.last.tolist() == [1.02, 1.03, 1.01]
    _tick_columns_equal(again, windows.last_ticks("AAPL", 3))


def test_a_reader_that_forgets_what_it_parsed_reads_the_same(market_redis, monkeypatch):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    _write_ticks_with_bad_entries_between(client, prefix)
    _push_bars(client, keys, ["11", "9.75", "12.5"])
    monkeypatch.setattr(windows_module, "MEMO_SIZE", 2)
    windows = Windows(client, prefix)
    for _ in range(2):
        _tick_columns_equal(windows.tick_columns("AAPL", 100), windows.last_ticks("AAPL", 100))
        _bar_columns_equal(windows.bar_columns("AAPL", "1", 100), windows.last_bars("AAPL", "1", 100))
        assert len(windows._quote_rows) <= 2 and len(windows._bar_rows) <= 2


def test_an_empty_window_has_empty_columns(market_redis):
    client, prefix = market_redis
    ticks = Windows(client, prefix).tick_columns("MSFT", 100)
    window = Windows(client, prefix).bar_columns("MSFT", "5", 100, forming=True)
    assert len(ticks) == len(window) == 0
    assert ticks.ts.shape == ticks.bid.shape == window.time.shape == window.close.shape == (0,)
    assert window.resolution == "5" and window.closed.dtype == bool


def test_only_the_bad_ticks_are_skipped_even_when_they_are_all_there_is(market_redis):
    client, prefix = market_redis
    client.xadd(MarketKeys(prefix).ticks("AAPL"), {"type": "md.tick", "data": "{not json"})
    assert len(Windows(client, prefix).tick_columns("AAPL", 10)) == 0


def _push_bars(client, keys: MarketKeys, closes: list[str]) -> None:
    for i, close in enumerate(closes):
        bar = bars.opened("AAPL", "1", 60 * i, D("10.5"), D(3)).with_trade(D(close), D("0.25"))
        client.lpush(keys.closed_bars("AAPL", "1"), bars.BarRecord(**{**_fields(bar), "closed": True}).encode())


def _fields(bar: bars.BarRecord) -> dict:
    return {name: getattr(bar, name) for name in bar.__slots__}


def _bar_columns_equal(columns, records) -> None:
    assert columns.time.tolist() == [b.time for b in records]
    for name in bars.PRICE_FIELDS:
        assert getattr(columns, name).tolist() == [float(getattr(b, name)) for b in records], name
    assert columns.closed.tolist() == [b.closed for b in records]


@pytest.mark.parametrize("forming", [False, True])
@pytest.mark.parametrize("count", [1, 2, 100])
def test_bar_columns_hold_the_bars_the_record_reader_reads(market_redis, forming, count):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    _push_bars(client, keys, ["11", "9.75", "12.5"])
    client.set(keys.forming_bar("AAPL", "1"), bars.opened("AAPL", "1", 180, D("12.25"), D(1)).encode())
    windows = Windows(client, prefix)

    records = windows.last_bars("AAPL", "1", count, forming=forming)
    columns = windows.bar_columns("aapl", "1", count, forming=forming)

    assert len(records) == len(columns) == min(count, 3) + forming
    _bar_columns_equal(columns, records)
    assert (columns.symbol, columns.resolution, columns.time.dtype) == ("AAPL", "1", np.int64)
    _bar_columns_equal(windows.bar_columns("AAPL", "1", count, forming=forming), records)


def test_bar_columns_without_a_forming_bar_are_the_closed_ones(market_redis):
    client, prefix = market_redis
    _push_bars(client, MarketKeys(prefix), ["11", "12"])
    columns = Windows(client, prefix).bar_columns("AAPL", "1", 10, forming=True)
    assert columns.close.tolist() == [11, 12] and columns.closed.all()


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1]",
        '{"symbol":"AAPL","resolution":"1","time":60}',
        '{"symbol":"AAPL","resolution":"1","time":"x","open":"1","high":"1","low":"1","close":"1"}',
        '{"resolution":"1","time":60,"open":"1","high":"1","low":"1","close":"1"}',
        '{"symbol":"AAPL","resolution":"1","time":60,"open":"1","high":"1","low":"1","close":"1"},{}',
    ],
)
def test_a_bar_that_does_not_decode_is_refused_by_both_readers_with_a_stable_code(market_redis, raw):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    _push_bars(client, keys, ["11"])
    client.lpush(keys.closed_bars("AAPL", "1"), raw)
    _push_bars(client, keys, ["12"])
    windows = Windows(client, prefix)
    for read in (windows.last_bars, windows.bar_columns):
        with pytest.raises(bars.BadBar) as refused:
            read("AAPL", "1", 10)
        assert refused.value.code == "marketdata.bad_bar"


@pytest.mark.parametrize("count", [0, -1, MAX_WINDOW + 1, True, "10", 1.5])
def test_a_bad_count_is_refused_by_the_columns_with_a_stable_code(market_redis, count):
    client, prefix = market_redis
    windows = Windows(client, prefix)
    for read in (lambda: windows.tick_columns("AAPL", count), lambda: windows.bar_columns("AAPL", "1", count)):
        with pytest.raises(BadWindow) as refused:
            read()
        assert refused.value.code == "marketdata.bad_window"


def test_an_unknown_resolution_is_refused_by_the_columns_with_a_stable_code(market_redis):
    client, prefix = market_redis
    with pytest.raises(resolutions.BadResolution) as refused:
        Windows(client, prefix).bar_columns("AAPL", "7", 10)
    assert refused.value.code == "marketdata.bad_resolution"


# A quote value as the worker writes it, or as a broken producer might.
_VALUES = st.one_of(
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-1000, max_value=10**9).map(str),
    st.integers(min_value=-(10**6), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.sampled_from(["", " 1.5 ", "1_000", "NaN", "-0", "Infinity", "0x10", "1e5", "١٢", "abc", "1e-400"]),
)


@given(st.dictionaries(st.sampled_from(QUOTE_FIELDS), _VALUES))
def test_quote_floats_keep_and_refuse_what_read_quote_does(quote):
    fields = m.encode(m.MarketData(symbol="AAPL"))
    data = json.dumps({"symbol": "AAPL", **quote}, separators=(",", ":"))
    try:
        expected = read_quote({**fields, "data": data})
    except BadTick:
        with pytest.raises(BadTick) as refused:
            quote_floats(data)
        assert refused.value.code == "marketdata.bad_tick"
        return
    kept = [getattr(expected, name) for name in QUOTE_FIELDS]
    got = quote_floats(data)
    assert [math.isnan(x) for x in got] == [value is None for value in kept]
    assert [x for x in got if not math.isnan(x)] == [float(value) for value in kept if value is not None]


def _slides_as_a_whole_read(client, prefix, windows, count: int) -> None:
    """The reader's slid window is what a reader that never read before reads whole."""
    slid = windows.tick_columns("AAPL", count)
    whole = Windows(client, prefix).tick_columns("AAPL", count)
    assert slid.entry_ids == whole.entry_ids
    _tick_columns_equal(slid, Windows(client, prefix).last_ticks("AAPL", count))


def test_a_window_read_again_asks_only_for_the_new_entries_and_reads_what_a_whole_read_reads(market_redis):
    client, prefix = market_redis
    stream, windows = MarketKeys(prefix).ticks("AAPL"), Windows(client, prefix)
    for n in range(30):
        client.xadd(stream, _tick(last=f"1.{n:02d}", last_size=n + 1))
    windows.tick_columns("AAPL", 10)
    whole_reads = []
    real_xrevrange = client.xrevrange

    def xrevrange(*args, **kwargs):
        whole_reads.append(args)
        return real_xrevrange(*args, **kwargs)

    client.xrevrange = xrevrange  # a whole read is one XREVRANGE of the stream's end
    try:
        client.xadd(stream, _tick(last="2.00", last_size=7))
        client.xadd(stream, {**_tick(last="2.01"), "data": "{not json"})  # a bad entry among the new
        client.xadd(stream, _tick(last="2.02", last_size=8))
        slid = windows.tick_columns("AAPL", 10)
        assert whole_reads == []  # only what came after the last entry it read
        windows.tick_columns("AAPL", 12)  # a larger window than the one it keeps
        assert len(whole_reads) == 1
    finally:
        del client.xrevrange
    whole = Windows(client, prefix).tick_columns("AAPL", 10)
    assert slid.entry_ids == whole.entry_ids and len(slid) == 9  # 10 entries, one of them skipped
    _tick_columns_equal(slid, Windows(client, prefix).last_ticks("AAPL", 10))


def test_a_slid_window_follows_a_stream_written_anew_trimmed_or_asked_for_more(market_redis):
    client, prefix = market_redis
    stream, windows = MarketKeys(prefix).ticks("AAPL"), Windows(client, prefix)
    for n in range(5):
        client.xadd(stream, _tick(last=f"1.{n:02d}"))
    _slides_as_a_whole_read(client, prefix, windows, 10)  # a stream shorter than the window
    client.xadd(stream, _tick(last="1.50"))
    _slides_as_a_whole_read(client, prefix, windows, 10)  # still whole: the new one is added
    client.xtrim(stream, maxlen=3)  # trimmed past the window's oldest entry
    client.xadd(stream, _tick(last="1.60"))
    _slides_as_a_whole_read(client, prefix, windows, 10)
    client.delete(stream)  # Redis lost it: written anew, after the last id the reader saw
    for n in range(4):
        client.xadd(stream, _tick(last=f"3.{n:02d}"))
    _slides_as_a_whole_read(client, prefix, windows, 10)
    for n in range(25):  # more new entries than the window holds: the newest of them
        client.xadd(stream, _tick(last=f"4.{n:02d}"))
    _slides_as_a_whole_read(client, prefix, windows, 10)
    _slides_as_a_whole_read(client, prefix, windows, 20)  # a larger window than the one kept
    _slides_as_a_whole_read(client, prefix, windows, 3)
    assert windows.tick_columns("AAPL", 3).last.tolist() == [4.22, 4.23, 4.24]


def test_a_reader_that_forgets_its_windows_reads_them_whole_again(market_redis, monkeypatch):
    client, prefix = market_redis
    keys, windows = MarketKeys(prefix), Windows(client, prefix)
    monkeypatch.setattr(windows_module, "WINDOW_ITEMS_KEPT", 15)
    for symbol in ("AAPL", "MSFT"):
        for n in range(10):
            client.xadd(keys.ticks(symbol), m.encode(m.MarketData(symbol=symbol, last=D(f"1.{n:02d}"))))
    for _ in range(3):  # each read of the other symbol forgets the first's window (20 items > 15)
        for symbol in ("AAPL", "MSFT"):
            client.xadd(keys.ticks(symbol), m.encode(m.MarketData(symbol=symbol, last=D("2"))))
            columns = windows.tick_columns(symbol, 10)
            assert columns.entry_ids == Windows(client, prefix).tick_columns(symbol, 10).entry_ids
            assert len(windows._tick_windows) == 1 and windows._window_items == 10
