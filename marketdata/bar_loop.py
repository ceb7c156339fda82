"""The bar builder's loop: tick streams in Redis -> ``BarBuilder`` -> bars in Redis and PostgreSQL.

No Django here: closed bars reach PostgreSQL through the ``store`` callable the process gives
(``marketdata.services.bars_store_closed``). One step reads every symbol's tick stream from its
offset (``XREAD``), builds, and when it has caught up closes the bars whose interval has ended
(a timer: a quiet symbol's bar closes without a new tick). Then, per batch:

1. closed bars go to PostgreSQL first (an idempotent upsert; retried until it succeeds);
2. one MULTI/EXEC writes the closed bars' windows (LPUSH + LTRIM), the forming bars, an entry on
   ``bars:updates`` per change and the stream offsets, so the forming bars and the offsets they
   were built to move together.

A restart takes up the forming bars and offsets and replays what follows: a batch that reached
PostgreSQL but not Redis is rebuilt identically (the upsert overwrites with the same values),
and the Redis windows never see it twice. A symbol without an offset (a first start) starts at
its newest tick. An entry that is not a readable tick is logged, counted and skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import redis

from marketdata import bars
from marketdata.builder import BarBuilder
from marketdata.keys import MarketKeys
from marketdata.ticks import BadTick, TradeReader, read_tick

logger = logging.getLogger("marketdata.bar_loop")

# Stream discovery: a symbol the worker starts quoting is picked up within this many seconds.
DISCOVER_SECONDS = 5.0
# Bad entries logged one by one up to this many per symbol, then one line per thousand.
BAD_TICKS_LOGGED = 20


@dataclass(slots=True)
class LoopCounts:
    """The loop's figures for the heartbeat and the System page."""

    ticks: int = 0
    bad_ticks: int = 0
    batches: int = 0
    store_failures: int = 0
    symbols: int = 0
    lag_ms: float = 0.0


class BarLoop:
    """Builds bars from every ``{prefix}:md:*`` stream; ``run(stop)`` until ``stop`` is set."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        builder: BarBuilder,
        store: Callable[[list[bars.BarRecord]], object],
        *,
        window: int = 1000,
        updates_maxlen: int = 50_000,
        close_delay: float = 1.0,
        count: int = 500,
        block_ms: int = 200,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.keys = MarketKeys(prefix)
        self.builder = builder
        self.store = store
        self.window = window
        self.updates_maxlen = updates_maxlen
        self.close_delay = close_delay
        self.count = count
        self.block_ms = block_ms
        self.clock = clock
        self.counts = LoopCounts()
        self.offsets: dict[str, str] = {}
        self._readers: dict[str, TradeReader] = {}
        self._streams: dict[str, str] = {}  # stream key -> offset, as XREAD takes them
        self._moved: dict[str, str] = {}  # offsets not yet written back
        self._bad_by_symbol: dict[str, int] = {}
        self._ticks_prefix = self.keys.ticks("")
        self._discovered_at = float("-inf")
        self._idle = False
        self._stop = threading.Event()

    # -- the process's view -----------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Build bars until ``stop`` is set; a failing step (Redis away) is logged and retried."""
        self._stop = stop
        while not stop.is_set():
            try:
                more = self.step()
            except Exception:
                logger.exception("bar builder step failed; taking up the kept state again in 1 s")
                self.reset()
                stop.wait(1.0)
                continue
            if not more and not self._streams:
                stop.wait(self.block_ms / 1000)

    def reset(self) -> None:
        """Forget what is not in Redis yet and follow every stream again from its kept offset and bars.

        After a failed step the builder may be ahead of what Redis holds; starting again from the
        kept state, as a restart does, replays the difference.
        """
        self.builder.reset()
        self.offsets.clear()
        self._readers.clear()
        self._streams.clear()
        self._moved.clear()
        self._discovered_at = float("-inf")

    def figures(self) -> dict:
        """The loop's and the builder's counts, as the heartbeat carries them."""
        return {**asdict(self.counts), **asdict(self.builder.counts)}

    # -- one step ---------------------------------------------------------------------------

    def step(self) -> bool:
        """Read, build and write one batch; True when more ticks are waiting already."""
        now = self.clock()
        if now - self._discovered_at >= DISCOVER_SECONDS:
            self.discover()
            self._discovered_at = now
        caught_up = True
        if self._streams:
            reply = self.client.xread(self._streams, count=self.count, block=self.block_ms if self._idle else None)
            read = 0
            for key, entries in reply or ():
                read += len(entries)
                caught_up &= len(entries) < self.count
                self._apply(_text(key), entries)
            self._idle = read == 0
        if caught_up:
            self.builder.close_due(self.clock() - self.close_delay)
        self.flush()
        return not caught_up

    def discover(self) -> list[str]:
        """Pick up the tick streams not followed yet; return their symbols."""
        found = []
        for key in self.client.scan_iter(match=self.keys.ticks_pattern, count=1000, _type="STREAM"):
            key = _text(key)
            if key not in self._streams:
                found.append(key[len(self._ticks_prefix) :])
        if not found:
            return found
        stored = self.client.hmget(self.keys.ticks_read, found)
        for symbol, offset in zip(found, stored, strict=True):
            self._follow(symbol, _text(offset) if offset else None)
        self.counts.symbols = len(self._streams)
        return found

    def _follow(self, symbol: str, offset: str | None) -> None:
        """Start following ``symbol`` after ``offset`` (its newest tick when None), with its bars."""
        self.builder.prepare(symbol)
        key = self.keys.ticks(symbol)
        newest = self.client.xrevrange(key, max=offset or "+", min="-", count=2)
        reader = self._readers[symbol] = TradeReader()
        if newest:
            quotes = [_trade_fields(fields) for _, fields in newest]
            last, size = quotes[0]
            pending = len(quotes) == 2 and last != quotes[1][0] and size == quotes[1][1]
            reader.prime(last, size, pending=pending)
        if offset is None:
            offset = _text(newest[0][0]) if newest else "0-0"
            self.offsets[symbol] = self._streams[key] = self._moved[symbol] = offset
            return
        self.offsets[symbol] = self._streams[key] = offset
        pipe = self.client.pipeline(transaction=False)
        for resolution in self.builder.kept:
            pipe.get(self.keys.forming_bar(symbol, resolution.code))
            pipe.lindex(self.keys.closed_bars(symbol, resolution.code), 0)
        replies = pipe.execute()
        for i in range(0, len(replies), 2):
            try:
                forming = bars.decode(replies[i]) if replies[i] else None
                last_closed = bars.decode(replies[i + 1]) if replies[i + 1] else None
            except bars.BadBar:
                logger.warning("%s: a kept bar does not decode; starting that resolution afresh", symbol)
                continue
            self.builder.restore(forming, last_closed)

    def _apply(self, key: str, entries: list) -> None:
        symbol = key[len(self._ticks_prefix) :]
        reader = self._readers[symbol]
        trade = self.builder.trade
        ts = 0
        for entry_id, fields in entries:
            try:
                tick = read_tick(fields)
                done = reader.read(tick.last, tick.last_size)
            except BadTick as exc:
                self._bad_tick(symbol, _text(entry_id), exc)
                continue
            ts = tick.ts
            if done is not None:
                trade(symbol, ts / 1e9, done[0], done[1])
        self.counts.ticks += len(entries)
        if ts:
            self.counts.lag_ms = max(0.0, self.clock() * 1000 - ts / 1e6)
        offset = _text(entries[-1][0])
        self.offsets[symbol] = self._streams[key] = self._moved[symbol] = offset

    def _bad_tick(self, symbol: str, entry_id: str, exc: BadTick) -> None:
        self.counts.bad_ticks += 1
        seen = self._bad_by_symbol[symbol] = self._bad_by_symbol.get(symbol, 0) + 1
        if seen <= BAD_TICKS_LOGGED or seen % 1000 == 0:
            logger.warning("%s: skipped tick %s (%s: %s); %d skipped so far", symbol, entry_id, exc.code, exc, seen)

    # -- writing a batch --------------------------------------------------------------------

    def flush(self) -> None:
        """Store the closed bars, then write windows, forming bars, updates and offsets to Redis."""
        closed, forming = self.builder.drain()
        if not (closed or forming or self._moved):
            return
        if closed:
            self._store(closed)
        keys = self.keys
        pipe = self.client.pipeline(transaction=True)
        forming_now = {(bar.symbol, bar.resolution) for bar in forming}
        for bar in closed:
            encoded = bar.encode()
            window = keys.closed_bars(bar.symbol, bar.resolution)
            pipe.lpush(window, encoded)
            pipe.ltrim(window, 0, self.window - 1)
            pipe.xadd(keys.bar_updates, {"bar": encoded}, maxlen=self.updates_maxlen, approximate=True)
            # The strategy runner reads closed bars only; a stream of its own spares it the forming ones.
            pipe.xadd(keys.closed_bar_events, {"bar": encoded}, maxlen=self.updates_maxlen, approximate=True)
            if (bar.symbol, bar.resolution) not in forming_now:
                pipe.delete(keys.forming_bar(bar.symbol, bar.resolution))
        # The forming bars in one MSET: a SET each cost as much CPU as the bar's update (bench
        # market_topics: 5,000 forming bars a second, the builder's largest cost).
        forming_bars = {}
        for bar in forming:
            encoded = forming_bars[keys.forming_bar(bar.symbol, bar.resolution)] = bar.encode()
            pipe.xadd(keys.bar_updates, {"bar": encoded}, maxlen=self.updates_maxlen, approximate=True)
        if forming_bars:
            pipe.mset(forming_bars)
        if self._moved:
            pipe.hset(keys.ticks_read, mapping=self._moved)
        pipe.execute()
        self._moved = {}
        self.counts.batches += 1

    def _store(self, closed: list[bars.BarRecord]) -> None:
        # PostgreSQL is the record: Redis moves on only once the closed bars are in it.
        while True:
            try:
                self.store(closed)
                return
            except Exception:
                self.counts.store_failures += 1
                logger.exception("could not store %d closed bars; retrying in 1 s", len(closed))
                if self._stop.wait(1.0):
                    raise


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _trade_fields(fields: dict) -> tuple[object, object]:
    try:
        tick = read_tick(fields)
    except BadTick:
        return None, None
    return tick.last, tick.last_size
