"""Closed bars the live builder made: kept in PostgreSQL, one upsert per batch, idempotently."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.db import transaction

from marketdata.bars import BarRecord
from marketdata.models import Bar
from marketdata.resolutions import parse as parse_resolution
from orders.models import Instrument

logger = logging.getLogger(__name__)

BATCH = 1000


def instrument_ids(symbols: Iterable[str]) -> dict[str, int]:
    """The instrument id of each symbol the desk knows (an active instrument first, then the oldest)."""
    found: dict[str, int] = {}
    rows = Instrument.objects.filter(symbol__in=set(symbols)).order_by("symbol", "-active", "id")
    for symbol, pk in rows.values_list("symbol", "id"):
        found.setdefault(symbol, pk)
    return found


@transaction.atomic
def bars_store_closed(*, bars: Sequence[BarRecord], instruments: dict[str, int] | None = None) -> int:
    """Keep the closed ``bars`` (any symbols and resolutions) with source ``live``; return how many rows
    were written.

    Idempotent on (instrument, resolution, start): storing a bar again (a restart replaying its
    ticks) overwrites the row with the same values, never a second row. A bar backfilled from the
    broker's history is kept as it is (history's rows are history's). A bar of a symbol the desk
    has no instrument of is left out with a warning: the Redis window still has it. ``instruments``
    (symbol -> id) saves the look-up when the caller keeps one.

    :raises resolutions.BadResolution: a bar's resolution is not one the desk keeps.
    :raises ValueError: a bar is not closed.
    """
    if not bars:
        return 0
    ids = instruments if instruments is not None else instrument_ids(bar.symbol for bar in bars)
    rows: dict[tuple[int, str, datetime], Bar] = {}
    for bar in bars:
        if not bar.closed:
            raise ValueError(f"{bar.symbol} {bar.resolution} {bar.time}: only closed bars are stored")
        code = parse_resolution(bar.resolution).code
        instrument_id = ids.get(bar.symbol)
        if instrument_id is None:
            logger.warning("no instrument %s: its %s bar at %s is not stored", bar.symbol, code, bar.time)
            continue
        start = datetime.fromtimestamp(bar.time, tz=UTC)
        # One statement may not touch a row twice: the last word on a start wins.
        rows[(instrument_id, code, start)] = Bar(
            instrument_id=instrument_id,
            resolution=code,
            start=start,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            source=Bar.Source.LIVE,
        )
    return bars_upsert(rows=rows, keep=Bar.Source.HISTORY)


def bars_upsert(*, rows: dict[tuple[int, str, datetime], Bar], keep: str) -> int:
    """Write ``rows`` (keyed by instrument id, resolution and start) in one upsert; return how many
    were written.

    A row already stored with source ``keep`` is left as it is: the live builder and the history
    backfill each keep the other's rows. The one write of bars for both; run it inside the
    caller's transaction.
    """
    if not rows:
        return 0
    starts = [start for _, _, start in rows]
    kept = Bar.objects.filter(
        instrument_id__in={instrument_id for instrument_id, _, _ in rows},
        resolution__in={code for _, code, _ in rows},
        start__range=(min(starts), max(starts)),
        source=keep,
    ).values_list("instrument_id", "resolution", "start")
    for key in kept:
        rows.pop(key, None)
    Bar.objects.bulk_create(
        list(rows.values()),
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["instrument", "resolution", "start"],
        update_fields=["open", "high", "low", "close", "volume"],
    )
    return len(rows)
