"""bars_store_closed: closed live bars into PostgreSQL, once per (instrument, resolution, start)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from marketdata import bars, resolutions
from marketdata.models import Bar
from marketdata.services.bars import bars_store_closed
from orders.tests.factories import InstrumentFactory

D = Decimal
# The dates below are the data's own; the clock is pinned beside them all the same.
pytestmark = [pytest.mark.django_db, pytest.mark.clock(datetime(2026, 12, 7, 15, 0, tzinfo=UTC))]
T = int(datetime(2026, 12, 7, 14, 31, tzinfo=UTC).timestamp())


def closed(symbol: str, resolution: str, time: int, close: str, volume: str = "100") -> bars.BarRecord:
    bar = bars.opened(symbol, resolution, time, D("190"), D(volume)).with_trade(D(close), D(0))
    return replace(bar, closed=True)


def test_storing_again_overwrites_with_the_new_values_and_never_adds_a_row():
    aapl = InstrumentFactory(symbol="AAPL")
    assert bars_store_closed(bars=[closed("AAPL", "1", T, "191"), closed("AAPL", "5", T, "191")]) == 2
    assert bars_store_closed(bars=[closed("AAPL", "1", T, "192", "300"), closed("AAPL", "1", T + 60, "189")]) == 2
    rows = list(
        Bar.objects.filter(instrument=aapl)
        .order_by("resolution", "start")
        .values_list("resolution", "start", "close", "volume")
    )
    start = datetime.fromtimestamp(T, UTC)
    assert rows == [
        ("1", start, D("192"), D(300)),
        ("1", datetime.fromtimestamp(T + 60, UTC), D("189"), D(100)),
        ("5", start, D("191"), D(100)),
    ]


def test_a_bar_backfilled_from_history_is_left_as_it_is():
    aapl = InstrumentFactory(symbol="AAPL")
    start = datetime.fromtimestamp(T, UTC)
    Bar.objects.create(
        instrument=aapl,
        resolution="1",
        start=start,
        open=1,
        high=2,
        low=1,
        close=2,
        volume=5,
        source=Bar.Source.HISTORY,
    )
    assert bars_store_closed(bars=[closed("AAPL", "1", T, "191"), closed("AAPL", "1", T + 60, "191")]) == 1
    history = Bar.objects.get(start=start)
    assert (history.close, history.source) == (D(2), "history")
    assert Bar.objects.get(start=datetime.fromtimestamp(T + 60, UTC)).source == "live"


def test_bars_of_a_symbol_the_desk_does_not_know_are_left_out(caplog):
    InstrumentFactory(symbol="AAPL")
    assert bars_store_closed(bars=[closed("ZZZZ", "1", T, "1"), closed("AAPL", "1", T, "191")]) == 1
    assert "no instrument ZZZZ" in caplog.text


def test_a_forming_bar_or_an_unknown_resolution_is_refused_and_nothing_is_stored():
    InstrumentFactory(symbol="AAPL")
    forming = bars.opened("AAPL", "1", T, D(1), D(1))
    with pytest.raises(ValueError, match="only closed bars"):
        bars_store_closed(bars=[closed("AAPL", "1", T + 60, "1"), forming])
    with pytest.raises(resolutions.BadResolution):
        bars_store_closed(bars=[closed("AAPL", "1", T + 60, "1"), closed("AAPL", "7", T, "1")])
    assert Bar.objects.count() == 0
