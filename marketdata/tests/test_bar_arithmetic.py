"""The bar arithmetic without Redis or Django: sessions and alignment, the trade rule, OHLCV."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from execution_worker import messages as m
from marketdata import resolutions, sessions
from marketdata.builder import BarBuilder
from marketdata.ticks import BadTick, TradeReader, read_quote, read_tick

# The dates below are the data's own; the clock is pinned beside them all the same.
pytestmark = pytest.mark.clock(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))

D = Decimal


def at(text: str) -> float:
    """Epoch seconds of a UTC time written as 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M")


def builder() -> BarBuilder:
    return BarBuilder(lambda symbol: sessions.calendar("XNYS"))


# -- sessions and alignment --------------------------------------------------------------------


def test_the_day_after_thanksgiving_2026_closes_at_one_in_new_york():
    session = sessions.calendar().on(datetime(2026, 11, 27).date())
    assert (utc(session.open), utc(session.close)) == ("2026-11-27 14:30", "2026-11-27 18:00")


def test_a_weekend_and_the_hours_outside_a_session_have_no_session():
    calendar = sessions.calendar()
    assert calendar.on(datetime(2026, 11, 28).date()) is None  # Saturday
    assert calendar.at(at("2026-11-28 15:00:00")) is None
    assert calendar.at(at("2026-12-07 14:29:59")) is None  # pre-market, Monday
    assert calendar.at(at("2026-12-07 21:00:00")) is None  # the close itself is after hours
    assert calendar.at(at("2026-11-26 15:00:00")) is None  # Thanksgiving


@pytest.mark.parametrize(
    ("code", "instant", "named", "ends"),
    [
        ("1", "2026-12-07 14:30:00", "2026-12-07 14:30", "2026-12-07 14:31"),
        ("5", "2026-12-07 14:37:59", "2026-12-07 14:35", "2026-12-07 14:40"),
        ("15", "2026-12-07 20:59:59", "2026-12-07 20:45", "2026-12-07 21:00"),
        # IB's hourly bars with useRTH: clock hours, the first cut at the 09:30 open.
        ("60", "2026-12-07 14:45:00", "2026-12-07 14:30", "2026-12-07 15:00"),
        ("60", "2026-12-07 15:00:00", "2026-12-07 15:00", "2026-12-07 16:00"),
        ("60", "2026-11-27 17:30:00", "2026-11-27 17:00", "2026-11-27 18:00"),
        # The daily bar is the session, named by its date at 00:00 UTC.
        ("1D", "2026-11-27 17:59:59", "2026-11-27 00:00", "2026-11-27 18:00"),
        # Summer time: the open is 13:30 UTC.
        ("60", "2026-07-06 13:40:00", "2026-07-06 13:30", "2026-07-06 14:00"),
    ],
)
def test_bars_are_cut_as_ib_cuts_them_for_us_stocks(code, instant, named, ends):
    t = at(instant)
    session = sessions.calendar().at(t)
    time, start, end = sessions.bar_bounds(resolutions.parse(code), t, session)
    assert (utc(time), utc(end)) == (named, ends)
    assert start <= t < end


def test_a_full_day_has_seven_hourly_bars_and_a_half_day_four():
    def hourly(day: str) -> list[str]:
        session = sessions.calendar().on(datetime.fromisoformat(day).date())
        names, t = [], session.open
        while t < session.close:
            time, _, end = sessions.bar_bounds(resolutions.ONE_HOUR, t, session)
            names.append(utc(time)[-5:])
            t = end
        return names

    assert hourly("2026-12-07") == ["14:30", "15:00", "16:00", "17:00", "18:00", "19:00", "20:00"]
    assert hourly("2026-11-27") == ["14:30", "15:00", "16:00", "17:00"]


def test_calendar_codes_come_from_the_listing_exchange():
    assert sessions.calendar_code("SMART", "NASDAQ") == "XNYS"
    assert sessions.calendar_code("SMART", "", default="XLON") == "XLON"
    with pytest.raises(sessions.UnknownCalendar) as refused:
        sessions.calendar("NOPE")
    assert refused.value.code == "marketdata.unknown_calendar"


# -- the trade rule ----------------------------------------------------------------------------


def worker_entries(steps: list[tuple[str, str, str, str]]) -> list[tuple[object, object]]:
    """(last, last_size) of every entry the worker writes for simulator steps (bid, ask, last, size),
    one entry per callback as execution_worker.quotes does: bid, bid_size, ask, ask_size, last, last_size."""
    quote: dict = {}
    out = []
    for bid, ask, last, size in steps:
        for name, value in (("bid", bid), ("bid_size", "100"), ("ask", ask), ("ask_size", "100"), ("last", last)):
            quote[name] = value
            out.append((quote.get("last"), quote.get("last_size")))
        quote["last_size"] = size
        out.append((quote.get("last"), quote.get("last_size")))
    return out


def trades_of(entries) -> list[tuple[Decimal, Decimal]]:
    reader = TradeReader()
    return [trade for trade in (reader.read(last, size) for last, size in entries) if trade is not None]


def test_each_trade_of_the_worker_stream_is_counted_once_with_its_size():
    steps = [
        ("189.99", "190.01", "190.00", "300"),  # the first trade
        ("190.00", "190.02", "190.01", "200"),  # new price, new size
        ("190.00", "190.02", "190.02", "200"),  # new price, the same size
        ("190.01", "190.03", "190.02", "500"),  # the same price, a new size
    ]
    trades = trades_of(worker_entries(steps))
    volume_by_price: dict[Decimal, Decimal] = {}
    for price, size in trades:
        volume_by_price[price] = volume_by_price.get(price, D(0)) + size
    assert volume_by_price == {D("190.00"): D(300), D("190.01"): D(200), D("190.02"): D(700)}
    assert sum(size for _, size in trades) == D(1200)


def test_quote_updates_alone_are_not_trades():
    reader = TradeReader()
    reader.prime("190.00", "100")
    assert [reader.read("190.00", "100") for _ in range(5)] == [None] * 5
    assert reader.read(None, None) is None


def test_a_whole_trade_in_one_entry_is_one_trade():
    reader = TradeReader()
    reader.prime("190.00", "100")
    assert reader.read("191.00", "300") == (D("191.00"), D(300))
    assert reader.read("191.00", "300") is None


@pytest.mark.parametrize(
    ("last", "size"), [("abc", "1"), ("-1", "1"), ("0", "1"), ("1", "-5"), ("NaN", "1"), ([], "1")]
)
def test_a_bad_last_or_size_is_refused_and_the_reader_is_left_as_it_was(last, size):
    reader = TradeReader()
    reader.prime("190.00", "100")
    with pytest.raises(BadTick) as refused:
        reader.read(last, size)
    assert refused.value.code == "marketdata.bad_tick"
    assert reader.read("190.00", "200") == (D("190.00"), D(200))


def test_read_tick_takes_the_envelope_and_refuses_what_is_not_an_md_tick():
    good = m.encode(m.MarketData(symbol="AAPL", last=D("1.5"), last_size=D(3), ts=123))
    tick = read_tick({k.encode(): v.encode() for k, v in good.items()})
    assert (tick.ts, tick.last, tick.last_size) == (123, "1.5", "3")
    for bad in (
        {**good, "v": "2"},
        {**good, "type": "order.filled"},
        {**good, "ts": "-1"},
        {**good, "data": "{not json"},
        {**good, "data": "[1]"},
        {k: v for k, v in good.items() if k != "data"},
        {**good, "data": b"\xff"},
    ):
        with pytest.raises(BadTick):
            read_tick(bad)


# -- OHLCV --------------------------------------------------------------------------------------


def test_trades_build_ohlcv_in_every_resolution_at_once():
    b = builder()
    for t, price, size in (
        ("14:31:05", "10", "1"),
        ("14:31:20", "12", "2"),
        ("14:31:40", "9", "3"),
        ("14:31:59", "11", "4"),
    ):
        assert b.trade("AAPL", at(f"2026-12-07 {t}"), D(price), D(size))
    closed, forming = b.drain()
    assert closed == []
    assert {bar.resolution for bar in forming} == {"1", "5", "15", "60", "1D"}
    for bar in forming:
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.closed) == (
            D(10),
            D(12),
            D(9),
            D(11),
            D(10),
            False,
        )
    named = {bar.resolution: utc(bar.time) for bar in forming}
    assert named == {
        "1": "2026-12-07 14:31",
        "5": "2026-12-07 14:30",
        "15": "2026-12-07 14:30",
        "60": "2026-12-07 14:30",
        "1D": "2026-12-07 00:00",
    }


def test_a_trade_in_the_next_interval_closes_the_bar_it_left():
    b = builder()
    b.trade("AAPL", at("2026-12-07 14:31:05"), D(10), D(1))
    b.drain()
    b.trade("AAPL", at("2026-12-07 14:32:00"), D(11), D(2))
    closed, forming = b.drain()
    assert [(bar.resolution, utc(bar.time), bar.close, bar.closed) for bar in closed] == [
        ("1", "2026-12-07 14:31", D(10), True)
    ]
    one_minute = next(bar for bar in forming if bar.resolution == "1")
    five = next(bar for bar in forming if bar.resolution == "5")
    assert (utc(one_minute.time), one_minute.volume) == ("2026-12-07 14:32", D(2))
    assert (five.open, five.close, five.volume) == (D(10), D(11), D(3))


def test_trades_outside_the_session_build_no_bar_and_are_counted():
    b = builder()
    assert not b.trade("AAPL", at("2026-12-07 14:29:59"), D(10), D(1))  # pre-market
    assert not b.trade("AAPL", at("2026-11-27 18:00:30"), D(10), D(1))  # after the half day's close
    assert not b.trade("AAPL", at("2026-11-28 15:00:00"), D(10), D(1))  # Saturday
    assert b.drain() == ([], [])
    assert b.counts.outside_session == 3


def test_the_half_day_closes_its_hourly_and_daily_bars_at_one():
    b = builder()
    b.trade("AAPL", at("2026-11-27 17:59:30"), D(10), D(1))
    b.drain()
    assert b.close_due(at("2026-11-27 17:59:59")) == 0
    assert b.close_due(at("2026-11-27 18:00:00")) == 5
    closed, forming = b.drain()
    assert forming == []
    assert {bar.resolution: utc(bar.time) for bar in closed} == {
        "1": "2026-11-27 17:59",
        "5": "2026-11-27 17:55",
        "15": "2026-11-27 17:45",
        "60": "2026-11-27 17:00",
        "1D": "2026-11-27 00:00",
    }


def test_a_trade_older_than_a_closed_bar_is_late_and_changes_nothing():
    b = builder()
    b.trade("AAPL", at("2026-12-07 14:31:05"), D(10), D(1))
    b.close_due(at("2026-12-07 14:32:00"))
    b.drain()
    b.trade("AAPL", at("2026-12-07 14:31:50"), D(99), D(1))
    closed, forming = b.drain()
    assert closed == []
    assert "1" not in {bar.resolution for bar in forming}
    assert {bar.resolution: bar.high for bar in forming}["5"] == D(99)
    assert b.counts.late == 1


def test_a_restored_forming_bar_takes_the_next_trades():
    first = builder()
    first.trade("AAPL", at("2026-12-07 14:31:05"), D(10), D(1))
    _, forming = first.drain()
    again = builder()
    for bar in forming:
        again.restore(bar)
    again.trade("AAPL", at("2026-12-07 14:31:30"), D(12), D(2))
    _, forming = again.drain()
    assert {(bar.resolution, bar.open, bar.high, bar.volume) for bar in forming} == {
        (code, D(10), D(12), D(3)) for code in ("1", "5", "15", "60", "1D")
    }


def test_read_quote_gives_what_the_strict_decoder_gives_and_refuses_a_bad_quote():
    message = m.MarketData(symbol="AAPL", bid=D("1.5"), ask=D("1.6"), last=D("1.55"), last_size=D(300), ts=7)
    fields = m.encode(message)
    assert read_quote(fields) == m.decode(fields) == message
    data = fields["data"]
    for bad in (
        data.replace('"1.5"', '"-1.5"'),
        data.replace('"1.5"', '"NaN"'),
        data.replace('"1.5"', "true"),
        data.replace('"symbol":"AAPL"', '"symbol":7'),
        data.replace('"symbol":"AAPL"', '"symbol":"AAPL","colour":"red"'),
    ):
        with pytest.raises(BadTick):
            read_quote({**fields, "data": bad})
