"""Bars from the broker's history: kept in PostgreSQL beside the ones built live, idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import transaction

from marketdata.models import Bar
from marketdata.resolutions import parse as parse_resolution
from marketdata.services.bars import bars_upsert


@dataclass(frozen=True, slots=True)
class HistoryBar:
    """One closed bar as the broker reported it, already keyed by its start (UTC)."""

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


@transaction.atomic
def history_bars_store(*, instrument_id: int, resolution: str, bars: Sequence[HistoryBar]) -> int:
    """Keep ``bars`` of one instrument and resolution with source ``history``; return how many were written.

    Idempotent: a bar already backfilled is overwritten with the broker's latest word (one upsert on
    instrument, resolution and start, ``services.bars.bars_upsert``, the live builder's too). A bar
    the live builder made is kept as it is: it is what the desk's charts showed.

    :raises resolutions.BadResolution: ``resolution`` is not one the desk keeps.
    """
    code = parse_resolution(resolution).code
    rows = {
        # One statement may not touch a row twice: the last word on a start wins.
        (instrument_id, code, bar.start): Bar(
            instrument_id=instrument_id,
            resolution=code,
            start=bar.start,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
            source=Bar.Source.HISTORY,
        )
        for bar in bars
    }
    return bars_upsert(rows=rows, keep=Bar.Source.LIVE)
