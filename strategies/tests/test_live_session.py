"""A live session's step without Django: broker round trips by average cost, state kept across a restart."""

from __future__ import annotations

import pytest

from strategies.engine import compile_graph
from strategies.engine.tests.helpers import template, walk_bars
from strategies.runtime.live_session import LiveSession, broker_round_trips


def test_broker_round_trips_by_average_cost_hand_computed():
    fills = [
        ("BUY", 100, 10.0, 1.0),
        ("SELL", 100, 12.0, 1.0),  # 100 x 2 - 2 fees = 198
        ("SELL", 50, 11.0, 1.0),
        ("BUY", 20, 10.0, 1.0),  # covers 20 at +1
        ("BUY", 30, 12.0, 1.0),  # covers 30 at -1: 20 - 30 - 3 fees = -13
        ("BUY", 10, 5.0, 0.0),  # open: 10 long at 5
    ]
    assert broker_round_trips(fills) == ([198.0, -13.0], 10.0, 5.0)


def test_a_reversal_closes_the_trip_and_opens_the_rest_at_its_price():
    assert broker_round_trips([("BUY", 10, 10.0, 0.0), ("SELL", 30, 11.0, 0.0)]) == ([10.0], -20.0, 11.0)


def test_a_session_resumed_from_its_state_decides_and_fills_as_one_that_never_stopped():
    plan = compile_graph(template("ema_crossover"))
    bars = walk_bars(1400, seed=5)

    def fresh() -> LiveSession:
        return LiveSession(session_id=1, mode="forward", plan=plan, symbol="AAPL", resolution="1", starting_equity=5e4)

    whole = fresh()
    whole.warm_up(bars[:300], None)
    expected = [whole.on_bar(b) for b in bars[300:]]

    first = fresh()
    first.warm_up(bars[:300], None)
    got = [first.on_bar(b) for b in bars[300:900]]
    second = fresh()
    second.warm_up(bars[:900], first.state())
    got += [second.on_bar(b) for b in bars[900:]]

    assert [(r.bar_time, r.decision and r.decision.action, r.fills) for r in got] == [
        (r.bar_time, r.decision and r.decision.action, r.fills) for r in expected
    ]
    assert got[-1].equity == pytest.approx(expected[-1].equity)
    assert got[-1].figures.sharpe == pytest.approx(expected[-1].figures.sharpe)


def test_sessions_sharing_one_symbols_series_decide_as_each_would_alone_across_the_windows_trim():
    plan = compile_graph(template("ema_crossover"))
    bars = walk_bars(1400, seed=11)

    def fresh() -> LiveSession:
        return LiveSession(session_id=1, mode="forward", plan=plan, symbol="AAPL", resolution="1", starting_equity=5e4)

    alone, first, second = fresh(), fresh(), fresh()
    for live in (alone, first, second):
        live.warm_up(bars[:200], None)
    expected = [alone.on_bar(b) for b in bars[200:]]
    got = []
    for b in bars[200:]:  # 1,200 bars: the 500-bar window is trimmed on the way
        assert first.evaluator.series_key() == second.evaluator.series_key()
        first.on_bar(b)
        got.append(second.on_bar(b, series=first.evaluator.last_series))
    assert [(r.decision, r.fills, r.equity) for r in got] == [(r.decision, r.fills, r.equity) for r in expected]
