"""The bar builder's loop against real Redis and PostgreSQL, on a pinned clock."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from execution_worker import messages as m
from marketdata import bars, sessions
from marketdata.bar_loop import BarLoop
from marketdata.builder import BarBuilder
from marketdata.keys import MarketKeys
from marketdata.loops import BarStore, instrument_calendar
from marketdata.models import Bar
from orders.tests.factories import InstrumentFactory

D = Decimal
pytestmark = pytest.mark.django_db


class Crash(BaseException):
    """The process dying between PostgreSQL and Redis (no ``except Exception`` stops it)."""


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Feed:
    """Writes ticks as the execution worker does: one entry per callback, each the whole quote so far."""

    def __init__(self, client, prefix: str, symbol: str = "AAPL") -> None:
        self.client, self.symbol = client, symbol
        self.key = MarketKeys(prefix).ticks(symbol)
        self.quote: dict = {"bid": D("189.99"), "ask": D("190.01")}

    def entry(self, at: str, **changes) -> None:
        self.quote.update(changes)
        ts = int(instant(at).timestamp() * 1e9)
        self.client.xadd(self.key, m.encode(m.MarketData(symbol=self.symbol, ts=ts, **self.quote)))

    def trade(self, at: str, price: str, size: str) -> None:
        self.entry(at, last=D(price))
        self.entry(at, last_size=D(size))


def make_loop(client, prefix: str, *, store=None, window: int = 1000) -> BarLoop:
    return BarLoop(
        client,
        prefix,
        BarBuilder(instrument_calendar),
        store or BarStore(),
        window=window,
        close_delay=1.0,
        block_ms=1,
    )


def run_until_caught_up(loop: BarLoop) -> None:
    for _ in range(100):
        if not loop.step():
            return
    raise AssertionError("the loop never caught up")


def started(client, prefix: str, feed: Feed, at: str) -> BarLoop:
    """A loop following ``feed``'s stream from its first (quote-only) entry on."""
    feed.entry(at)
    loop = make_loop(client, prefix)
    loop.step()
    assert loop.offsets == {feed.symbol: client.xrevrange(feed.key, count=1)[0][0]}
    return loop


def updates(client, prefix: str) -> list[bars.BarRecord]:
    return [bars.decode(fields["bar"]) for _, fields in client.xrange(MarketKeys(prefix).bar_updates)]


def stored(symbol: str = "AAPL") -> list[tuple]:
    return list(
        Bar.objects.filter(instrument__symbol=symbol)
        .order_by("resolution", "start")
        .values_list("resolution", "start", "open", "high", "low", "close", "volume", "source")
    )


def test_ticks_become_forming_bars_in_redis_and_a_closed_bar_reaches_postgres(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    InstrumentFactory(symbol="AAPL")
    feed = Feed(client, prefix)
    with time_machine.travel(instant("2026-12-07 14:31:00"), tick=False) as clock:
        loop = started(client, prefix, feed, "2026-12-07 14:30:59")
        feed.trade("2026-12-07 14:31:05", "190.00", "300")
        feed.entry("2026-12-07 14:31:06", bid=D("189.98"))  # a quote update, no trade
        feed.trade("2026-12-07 14:31:40", "190.50", "100")
        feed.trade("2026-12-07 14:32:10", "190.20", "200")
        clock.move_to(instant("2026-12-07 14:32:11"))
        run_until_caught_up(loop)

    one = bars.decode(client.get(keys.forming_bar("AAPL", "1")))
    five = bars.decode(client.get(keys.forming_bar("AAPL", "5")))
    closed = [bars.decode(raw) for raw in client.lrange(keys.closed_bars("AAPL", "1"), 0, -1)]
    assert (one.time, one.open, one.volume, one.closed) == (
        instant("2026-12-07 14:32").timestamp(),
        D("190.20"),
        200,
        False,
    )
    assert (five.open, five.high, five.low, five.close, five.volume) == (
        D("190.00"),
        D("190.50"),
        D("190.00"),
        D("190.20"),
        600,
    )
    assert [(b.open, b.high, b.close, b.volume, b.closed) for b in closed] == [
        (D("190.00"), D("190.50"), D("190.50"), 400, True)
    ]
    assert stored() == [("1", instant("2026-12-07 14:31"), D("190"), D("190.5"), D("190"), D("190.5"), D(400), "live")]
    assert [b for b in updates(client, prefix) if b.closed] == closed
    # The runner's stream holds the closed bars only.
    assert [bars.decode(f["bar"]) for _, f in client.xrange(keys.closed_bar_events)] == closed
    assert {(b.resolution, b.time) for b in updates(client, prefix) if not b.closed} >= {
        ("1", one.time),
        ("5", five.time),
    }
    assert client.hget(keys.ticks_read, "AAPL") == client.xrevrange(feed.key, count=1)[0][0]


def test_a_quiet_symbols_bar_closes_when_its_interval_ends(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    InstrumentFactory(symbol="AAPL")
    feed = Feed(client, prefix)
    with time_machine.travel(instant("2026-12-07 14:31:00"), tick=False) as clock:
        loop = started(client, prefix, feed, "2026-12-07 14:30:59")
        feed.trade("2026-12-07 14:31:05", "190.00", "300")
        clock.move_to(instant("2026-12-07 14:31:30"))
        run_until_caught_up(loop)
        assert client.llen(keys.closed_bars("AAPL", "1")) == 0
        clock.move_to(instant("2026-12-07 14:32:00.5"))  # ended, but within the close delay
        loop.step()
        assert client.llen(keys.closed_bars("AAPL", "1")) == 0
        clock.move_to(instant("2026-12-07 14:32:01"))
        loop.step()

    assert client.get(keys.forming_bar("AAPL", "1")) is None
    assert client.get(keys.forming_bar("AAPL", "5")) is not None
    closed = bars.decode(client.lindex(keys.closed_bars("AAPL", "1"), 0))
    assert (closed.time, closed.volume, closed.closed) == (instant("2026-12-07 14:31").timestamp(), 300, True)
    assert updates(client, prefix)[-1] == closed
    assert [row[:2] for row in stored()] == [("1", instant("2026-12-07 14:31"))]


def test_the_half_days_bars_all_close_at_one_and_after_hours_ticks_build_nothing(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    InstrumentFactory(symbol="AAPL")
    feed = Feed(client, prefix)
    with time_machine.travel(instant("2026-11-27 17:59:00"), tick=False) as clock:
        loop = started(client, prefix, feed, "2026-11-27 17:58:59")
        feed.trade("2026-11-27 17:59:30", "190.00", "100")
        feed.trade("2026-11-27 18:00:30", "191.00", "100")  # after the early close
        clock.move_to(instant("2026-11-27 18:00:31"))
        run_until_caught_up(loop)

    assert [(row[0], row[1], row[6]) for row in stored()] == [
        ("1", instant("2026-11-27 17:59"), 100),
        ("15", instant("2026-11-27 17:45"), 100),
        ("1D", instant("2026-11-27 00:00"), 100),
        ("5", instant("2026-11-27 17:55"), 100),
        ("60", instant("2026-11-27 17:00"), 100),
    ]
    assert not any(client.get(keys.forming_bar("AAPL", code)) for code in ("1", "5", "15", "60", "1D"))
    # The trade after the close was read twice (its price entry, then its size entry), built nothing.
    assert loop.builder.counts.outside_session == 2


def test_bad_entries_are_skipped_counted_and_the_loop_goes_on(market_redis, caplog):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    InstrumentFactory(symbol="AAPL")
    feed = Feed(client, prefix)
    with time_machine.travel(instant("2026-12-07 14:31:30"), tick=False):
        loop = started(client, prefix, feed, "2026-12-07 14:30:59")
        feed.trade("2026-12-07 14:31:05", "190.00", "300")
        client.xadd(feed.key, {"type": "md.tick", "data": "{not json"})
        client.xadd(feed.key, {**m.encode(m.MarketData(symbol="AAPL")), "v": "9"})
        good = m.encode(m.MarketData(symbol="AAPL", last=D("190"), last_size=D("300")))
        client.xadd(feed.key, {**good, "data": good["data"].replace('"190"', '"-190"')})
        feed.trade("2026-12-07 14:31:20", "190.10", "100")
        run_until_caught_up(loop)

    assert loop.counts.bad_ticks == 3
    assert "marketdata.bad_tick" in caplog.text
    one = bars.decode(client.get(keys.forming_bar("AAPL", "1")))
    assert (one.close, one.volume) == (D("190.10"), 400)
    assert client.hget(keys.ticks_read, "AAPL") == client.xrevrange(feed.key, count=1)[0][0]


def test_the_closed_window_keeps_only_its_size_newest_first(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    InstrumentFactory(symbol="AAPL")
    feed = Feed(client, prefix)
    with time_machine.travel(instant("2026-12-07 14:31:00"), tick=False) as clock:
        feed.entry("2026-12-07 14:30:59")
        loop = make_loop(client, prefix, window=3)
        loop.step()
        for minute in range(31, 37):
            feed.trade(f"2026-12-07 14:{minute}:10", f"190.{minute}", "100")
        clock.move_to(instant("2026-12-07 14:40:00"))
        run_until_caught_up(loop)

    window = [bars.decode(raw).close for raw in client.lrange(keys.closed_bars("AAPL", "1"), 0, -1)]
    assert window == [D("190.36"), D("190.35"), D("190.34")]
    assert Bar.objects.filter(resolution="1").count() == 6


def test_a_restart_resumes_where_it_stopped_without_duplicating_or_changing_bars(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    InstrumentFactory(symbol="AAPL")
    feed = Feed(client, prefix)
    trades = [("14:31:05", "190.00", "300"), ("14:31:40", "190.50", "100"), ("14:32:10", "190.20", "200")]
    later = [("14:32:30", "190.70", "400"), ("14:33:05", "190.10", "100")]

    def crash_after_postgres(closed):
        BarStore()(closed)
        raise Crash

    with time_machine.travel(instant("2026-12-07 14:31:00"), tick=False) as clock:
        feed.entry("2026-12-07 14:30:59")
        first = make_loop(client, prefix, store=crash_after_postgres)
        first.step()
        for at, price, size in trades[:2]:
            feed.trade(f"2026-12-07 {at}", price, size)
        clock.move_to(instant("2026-12-07 14:31:50"))
        run_until_caught_up(first)  # no bar closed yet: the forming bars and offsets are kept
        for at, price, size in trades[2:]:
            feed.trade(f"2026-12-07 {at}", price, size)
        with pytest.raises(Crash):
            run_until_caught_up(first)  # 14:31 closed: in PostgreSQL, not in Redis
        assert client.llen(keys.closed_bars("AAPL", "1")) == 0

        second = make_loop(client, prefix)
        run_until_caught_up(second)
        third = make_loop(client, prefix)  # a plain restart, nothing in flight
        for at, price, size in later:
            feed.trade(f"2026-12-07 {at}", price, size)
        clock.move_to(instant("2026-12-07 14:34:01"))
        run_until_caught_up(third)

    one_minute = [(row[1], row[2], row[3], row[4], row[5], row[6]) for row in stored() if row[0] == "1"]
    assert one_minute == [
        (instant("2026-12-07 14:31"), D("190"), D("190.5"), D("190"), D("190.5"), D(400)),
        (instant("2026-12-07 14:32"), D("190.2"), D("190.7"), D("190.2"), D("190.7"), D(600)),
        (instant("2026-12-07 14:33"), D("190.1"), D("190.1"), D("190.1"), D("190.1"), D(100)),
    ]
    window = [bars.decode(raw) for raw in client.lrange(keys.closed_bars("AAPL", "1"), 0, -1)]
    assert [b.time for b in window] == [instant(f"2026-12-07 14:{minute}").timestamp() for minute in (33, 32, 31)]
    five = bars.decode(client.get(keys.forming_bar("AAPL", "5")))
    assert (five.open, five.high, five.low, five.close, five.volume) == (
        D("190"),
        D("190.7"),
        D("190"),
        D("190.1"),
        1100,
    )
    assert Bar.objects.count() == len(set(Bar.objects.values_list("instrument", "resolution", "start")))


def test_a_symbol_the_desk_does_not_know_gets_bars_in_redis_only(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    feed = Feed(client, prefix, symbol="ZZZZ")
    with time_machine.travel(instant("2026-12-07 14:31:00"), tick=False) as clock:
        loop = started(client, prefix, feed, "2026-12-07 14:30:59")
        feed.trade("2026-12-07 14:31:05", "10.00", "300")
        clock.move_to(instant("2026-12-07 14:32:05"))
        run_until_caught_up(loop)
    assert client.llen(keys.closed_bars("ZZZZ", "1")) == 1
    assert Bar.objects.count() == 0


def test_a_followed_symbols_calendar_is_asked_once_and_before_its_first_trade(market_redis):
    # The first ask builds the calendar (about a second): at a trade, every symbol's ticks would wait.
    client, prefix = market_redis
    asked = []

    def calendar_for(symbol: str) -> sessions.SessionCalendar:
        asked.append(symbol)
        return sessions.calendar("XNYS")

    feed = Feed(client, prefix, symbol="MSFT")
    with time_machine.travel(instant("2026-12-07 14:31:00"), tick=False):
        feed.entry("2026-12-07 14:30:59")
        loop = BarLoop(client, prefix, BarBuilder(calendar_for), BarStore(), block_ms=1)
        loop.step()
        assert asked == ["MSFT"]
        feed.trade("2026-12-07 14:31:05", "10.00", "300")
        run_until_caught_up(loop)
    assert asked == ["MSFT"]
    assert bars.decode(client.get(MarketKeys(prefix).forming_bar("MSFT", "1"))).close == D("10.00")
