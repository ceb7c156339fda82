"""The runner's record of a batch of sessions in one statement (``strategies.sql.record_sessions``)."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from django.db import connection

from strategies import sql
from strategies.models import TradingSession
from strategies.tests.factories import TradingSessionFactory

# The data carries dates: the clock is pinned to their day (time_machine.travel, by the root conftest's
# clock marker), so the test means the same on any day.
pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-03-02T16:00:00+00:00")]


def figures(**values) -> dict:
    row = {
        "equity": Decimal("100123.4567"),
        "realized_pnl": Decimal("-12.5000"),
        "unrealized_pnl": Decimal("7.1250"),
        "max_drawdown": Decimal("0.0001"),
        "peak_pnl": Decimal("250.0000"),
        "trade_count": 3,
        "win_count": 2,
        "sharpe": 1.25,
    }
    return {**row, **values}


def test_a_batch_sets_each_sessions_last_bar_state_and_figures_exactly_and_no_other_session():
    first, second, other = TradingSessionFactory.create_batch(3)
    state = {"book": {"side": 1, "entry_price": 101.25}, "day": "2026-03-02", "figures": {"peak": [1, 2.5]}}
    rows = [
        {"id": first.pk, "last_bar_time": 1_772_461_800, "state": state, **figures()},
        {"id": second.pk, "last_bar_time": 1_772_461_860, "state": {}, **figures(sharpe=math.nan, trade_count=0)},
    ]

    with connection.cursor() as cursor:
        assert sql.record_sessions(cursor, rows, figures=True) == 2

    first.refresh_from_db()
    assert (first.last_bar_time, first.state) == (1_772_461_800, state)
    assert (first.equity, first.realized_pnl, first.unrealized_pnl, first.max_drawdown, first.peak_pnl) == (
        Decimal("100123.4567"),
        Decimal("-12.5000"),
        Decimal("7.1250"),
        Decimal("0.0001"),
        Decimal("250.0000"),
    )
    assert (first.trade_count, first.win_count, first.sharpe) == (3, 2, 1.25)
    second.refresh_from_db()
    assert second.last_bar_time == 1_772_461_860 and second.trade_count == 0 and math.isnan(second.sharpe)
    other_before = TradingSession.objects.get(pk=other.pk)
    assert other_before.last_bar_time is None and other_before.state == {}


def test_without_figures_only_the_last_bar_and_state_change():
    session = TradingSessionFactory(equity=Decimal("99000"), trade_count=4)

    with connection.cursor() as cursor:
        sql.record_sessions(
            cursor, [{"id": session.pk, "last_bar_time": 1_772_461_800, "state": {"day": "x"}}], figures=False
        )

    session.refresh_from_db()
    assert (session.last_bar_time, session.state, session.equity, session.trade_count) == (
        1_772_461_800,
        {"day": "x"},
        Decimal("99000.0000"),
        4,
    )
