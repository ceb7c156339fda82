"""An instrument's quote as the desk reads it from Redis: the touch an order moves toward or is priced at.

Shared by the monitor (re-pricing stale limits) and flatten (a limit at the quote).
"""

from __future__ import annotations

import functools
import logging
import time
from decimal import Decimal

import redis
from django.conf import settings

from execution_worker.messages import MessageError, StreamNames, decode
from orders.models import Instrument, Side

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    """Return the monitor's Redis client (one per process)."""
    # Short timeouts: a dead Redis must cost a monitoring run seconds, not its whole interval.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def touch_price(instrument: Instrument, side: str) -> Decimal | None:
    """Return the price a re-priced order moves toward: the far touch (ask to buy, bid to sell).

    Read from the newest entry of the instrument's market-data stream when it is recent;
    otherwise the instrument's last price. None when neither is known.
    """
    try:
        entries = redis_client().xrevrange(StreamNames(settings.STREAM_PREFIX).md(instrument.symbol), count=1)
    except Exception:
        # Market data is a transport; without it the last price still gives a direction.
        logger.warning("market data for %s unavailable", instrument.symbol, exc_info=True)
        entries = []
    if entries:
        try:
            tick = decode(entries[0][1])
            recent = time.time_ns() - int(tick.ts) < 10 * 1_000_000_000
            quote = tick.ask if side == Side.BUY else tick.bid
            if recent and quote:
                return Decimal(quote)
        except (MessageError, AttributeError, ValueError):
            logger.warning("undecodable market data for %s", instrument.symbol)
    return instrument.last_price
