"""What a subscriber sees first: the recent bars or the newest quote, and the stream position they cover.

Synchronous (Redis through ``streams.redis_client``, the instrument check through the ORM): the
consumer runs these in a thread. The position is read *before* the snapshot, so every update
after it is delivered: an update may repeat what the snapshot already shows, none is missed
(the bar builder writes a bar's window before it announces the change on ``bars:updates``).
"""

from __future__ import annotations

from django.conf import settings

from marketdata.keys import MarketKeys
from marketdata.topics.quotes import quote_data
from marketdata.windows import Windows
from streams.redis_client import get_redis

EMPTY_STREAM = "0-0"


def instrument_known(symbol: str) -> bool:
    """Whether ``symbol`` names an instrument of the desk (``orders.Instrument``)."""
    from orders.models import Instrument

    return Instrument.objects.filter(symbol=symbol).exists()


def _newest_id(client, stream: str) -> str:
    newest = client.xrevrange(stream, count=1)
    return newest[0][0] if newest else EMPTY_STREAM


def bars_snapshot(symbol: str, resolution: str) -> tuple[str, list[dict]]:
    """(position on ``bars:updates``, the last closed bars oldest first then the forming bar).

    :raises marketdata.bars.BadBar: a bar in Redis does not decode.
    """
    client = get_redis()
    after = _newest_id(client, MarketKeys(settings.STREAM_PREFIX).bar_updates)
    window = Windows(client, settings.STREAM_PREFIX).last_bars(
        symbol, resolution, settings.MARKET_TOPICS_SNAPSHOT_BARS, forming=True
    )
    return after, [bar.as_dict() for bar in window]


def quote_snapshot(symbol: str) -> tuple[str, dict | None]:
    """(position on the symbol's tick stream, its newest quote or None when it has none)."""
    client = get_redis()
    after = _newest_id(client, MarketKeys(settings.STREAM_PREFIX).ticks(symbol))
    ticks = Windows(client, settings.STREAM_PREFIX).last_ticks(symbol, 1)
    return after, quote_data(ticks[-1].quote) if ticks else None
