"""Stored bars for tests of any app (kept apart from ``helpers``, whose lookups reach ``streams``, so the
domain apps' tests may use it under the import contracts)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from marketdata.bars import BarRecord
from marketdata.models import Bar
from orders.models import Instrument


def store_history_bars(instrument: Instrument, records: Iterable[BarRecord]) -> None:
    """Store ``records`` as ``instrument``'s history bars of their resolution (rows inserted as they are)."""
    Bar.objects.bulk_create(
        Bar(
            instrument=instrument,
            resolution=b.resolution,
            start=datetime.fromtimestamp(b.time, tz=UTC),
            open=b.open,
            high=b.high,
            low=b.low,
            close=b.close,
            volume=b.volume,
            source=Bar.Source.HISTORY,
        )
        for b in records
    )
