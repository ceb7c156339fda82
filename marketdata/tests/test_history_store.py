"""history_bars_store: the broker's bars kept idempotently beside the live builder's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from marketdata.models import Bar
from marketdata.resolutions import BadResolution
from marketdata.services.history import HistoryBar, history_bars_store
from orders.tests.factories import InstrumentFactory

# The dates below are the data's own; the clock is pinned beside them all the same.
pytestmark = [pytest.mark.django_db, pytest.mark.clock(datetime(2026, 11, 24, 16, 0, tzinfo=UTC))]
START = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


def _bar(minute: int, close: str) -> HistoryBar:
    price = Decimal(close)
    return HistoryBar(START + timedelta(minutes=minute), price, price + 1, price - 1, price, Decimal(100))


def test_storing_the_same_history_twice_leaves_one_row_per_start_with_the_latest_word():
    aapl = InstrumentFactory(symbol="AAPL")
    assert history_bars_store(instrument_id=aapl.id, resolution="1", bars=[_bar(0, "10"), _bar(1, "11")]) == 2
    assert history_bars_store(instrument_id=aapl.id, resolution="1", bars=[_bar(0, "10"), _bar(1, "12")]) == 2
    rows = list(Bar.objects.filter(instrument=aapl).values_list("start", "close", "source"))
    assert rows == [(START, Decimal("10"), "history"), (START + timedelta(minutes=1), Decimal("12"), "history")]


def test_a_bar_the_live_builder_stored_is_kept_as_it_is():
    aapl = InstrumentFactory(symbol="AAPL")
    Bar.objects.create(
        instrument=aapl, resolution="1", start=START, open=5, high=6, low=4, close=5, volume=1, source="live"
    )
    assert history_bars_store(instrument_id=aapl.id, resolution="1", bars=[_bar(0, "10"), _bar(1, "11")]) == 1
    live = Bar.objects.get(instrument=aapl, start=START)
    assert (live.close, live.source) == (Decimal("5"), "live")


def test_a_resolution_the_desk_does_not_keep_is_refused_and_nothing_is_written():
    aapl = InstrumentFactory(symbol="AAPL")
    with pytest.raises(BadResolution):
        history_bars_store(instrument_id=aapl.id, resolution="2", bars=[_bar(0, "10")])
    assert not Bar.objects.exists()
