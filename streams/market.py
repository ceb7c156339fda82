"""The market-data feed of the live pages: latest quotes from ``{prefix}:md:<symbol>`` to ``md.<symbol>`` groups.

The worker writes ticks as 5-field ``md.tick`` entries in a capped stream per symbol. This loop
(a thread of ``stream_bridge``) blocks on every known md stream, keeps only the newest entry of
each symbol per read and fans it out; the consumer merges further within 50 ms per row. Ticks are
not stored in PostgreSQL: a page's snapshot reads the newest entry of each stream.

The feed also moves each instrument's price (``Instrument.last_price``, the one price positions
are valued at: ``orders.valuation``) to the newest tick's mark, through
``orders.services.instrument_record_price``, at most every ``settings.PRICE_RECORD_SECONDS`` per
symbol; the desk watch then fans out the positions whose price moved, as for any price change.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import redis
from django.conf import settings
from django.db import DatabaseError, close_old_connections

from execution_worker import messages as m
from streams import keys, live, rows
from streams.redis_client import get_redis

logger = logging.getLogger(__name__)


def quote_fields(data: dict) -> dict[str, str]:
    """The quote fields of a decoded ``md.tick`` data object, as display strings."""
    return {k: str(v) for k, v in data.items() if k != "symbol" and v is not None}


class MarketFeed:
    """Read the md streams and fan out the newest quote per symbol, one blocking read per step."""

    def __init__(self, fanout: live.Fanout, *, stop: threading.Event | None = None, rescan_seconds: float = 10.0):
        self.fanout = fanout
        self.stop = stop or threading.Event()
        self.rescan_seconds = rescan_seconds
        self.last_ids: dict[str, str] = {}
        self._next_scan = 0.0
        # symbol -> (mark, stamp) not stored yet, and when each symbol may be stored again.
        self._pending_prices: dict[str, tuple[Decimal, datetime]] = {}
        self._price_due: dict[str, float] = {}

    def _scan(self, client: redis.Redis) -> None:
        prefix = keys.market_data_stream("")
        for name in client.scan_iter(match=keys.market_data_pattern(), count=1000, _type="STREAM"):
            if name not in self.last_ids:
                # Follow a new stream from its newest entry: a page's snapshot already shows that one.
                newest = client.xrevrange(name, count=1)
                self.last_ids[name] = newest[0][0] if newest else "0-0"
                if newest:
                    self._note_price(newest[0][1])
        self._next_scan = time.monotonic() + self.rescan_seconds
        logger.debug("market feed follows %d streams under %s", len(self.last_ids), prefix)

    def step(self, block_ms: int = 1000) -> int:
        """Wait up to ``block_ms`` for ticks; fan out the newest per symbol; return how many were sent."""
        client = get_redis()
        if time.monotonic() >= self._next_scan:
            self._scan(client)
        if not self.last_ids:
            self.stop.wait(block_ms / 1000)
            return 0
        reply = client.xread(self.last_ids, count=100, block=block_ms)
        sent = 0
        for stream, entries in reply or []:
            if not entries:
                continue
            entry_id, fields = entries[-1]
            self.last_ids[stream] = entry_id
            try:
                message = m.decode(fields)
            except m.MessageError:
                continue
            if not isinstance(message, m.MarketData):
                continue
            self._note_price(message)
            symbol = message.symbol
            self.fanout.send(
                live.market_group(symbol),
                [rows.quote_row(symbol, quote_fields(message.data()), message.ts)],
                src_ts=message.ts,
            )
            sent += 1
        self.record_prices()
        return sent

    def _note_price(self, tick: m.MarketData | dict) -> None:
        """Keep the tick's mark price as its symbol's next price to store (an undecodable entry is skipped)."""
        from orders.valuation import mark_price

        if isinstance(tick, dict):
            try:
                tick = m.decode(tick)
            except m.MessageError:
                return
            if not isinstance(tick, m.MarketData):
                return
        price = mark_price(last=tick.last, bid=tick.bid, ask=tick.ask)
        if price is not None:
            self._pending_prices[tick.symbol] = (price, datetime.fromtimestamp(tick.ts / 1e9, tz=UTC))

    def record_prices(self) -> int:
        """Store the pending price of every symbol whose interval has passed; return how many were stored.

        A database failure keeps them pending (retried at the next step) and never stops the quotes.
        """
        from orders.models import Instrument
        from orders.services import instrument_record_price

        now = time.monotonic()
        due = [symbol for symbol in self._pending_prices if self._price_due.get(symbol, 0.0) <= now]
        if not due:
            return 0
        stored = 0
        try:
            for instrument in Instrument.objects.filter(symbol__in=due):
                price, at = self._pending_prices[instrument.symbol]
                stored += instrument_record_price(instrument=instrument, price=price, at=at)
        except DatabaseError:
            logger.warning("could not store market prices", exc_info=True)
            close_old_connections()
            return stored
        for symbol in due:
            del self._pending_prices[symbol]
            self._price_due[symbol] = now + settings.PRICE_RECORD_SECONDS
        return stored

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.step()
            except Exception:
                logger.warning("market feed step failed", exc_info=True)
                self.stop.wait(1.0)
