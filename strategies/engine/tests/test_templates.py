"""The three templates compile and trade on synthetic bars, the same live as on history."""

from __future__ import annotations

import itertools

import pytest

from strategies.engine import Evaluator, compile_graph, run_history
from strategies.engine.tests.helpers import TEMPLATE_NAMES, template, walk_bars

BARS = walk_bars(3000, seed=3)


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_a_template_compiles_and_trades_on_synthetic_bars(name):
    plan = compile_graph(template(name), history_bars=len(BARS))
    decisions = run_history(plan, BARS)
    assert len(decisions) >= 4
    assert {d.action for d in decisions} >= {"buy"}
    times = [d.bar_time for d in decisions]
    assert times == sorted(set(times)), "at most one decision a bar, in bar order"
    assert min(times) >= BARS[plan.warmup].time
    assert {d.node for d in decisions} <= {n["id"] for n in template(name)["nodes"]}
    live = Evaluator(plan, "AAPL")
    assert [d for b in BARS[:800] for d in live.on_bar(b)] == run_history(plan, BARS[:800])


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_history_fed_in_chunks_decides_as_one_run(name):
    plan = compile_graph(template(name))
    evaluator = Evaluator(plan, "AAPL")
    chunked = [d for start in range(0, len(BARS), 700) for d in evaluator.catch_up(BARS[start : start + 700])]
    assert chunked == run_history(plan, BARS)


def test_the_ema_crossover_alternates_entries_and_exits():
    decisions = run_history(compile_graph(template("ema_crossover")), BARS)
    actions = [d.action for d in decisions]
    assert actions[0] == "buy"
    # A close follows each buy unless the stop-loss closed the position in between.
    assert all(not (a == b == "close") for a, b in itertools.pairwise(actions))
    assert all(
        d.quantity == 100 and d.stop_loss == {"mode": "percent", "percent": 2.0} for d in decisions if d.action == "buy"
    )


def test_the_bollinger_breakout_sizes_by_risk_with_atr_exits():
    buys = [d for d in run_history(compile_graph(template("bollinger_breakout")), BARS) if d.action == "buy"]
    assert buys
    for d in buys:
        assert d.sizing == {"kind": "risk_per_trade", "percent": 1.0} and d.quantity is None
        assert d.stop_loss["distance"] == pytest.approx(2.0 * d.stop_loss["atr"])
        assert d.trailing_stop["distance"] == pytest.approx(3.0 * d.trailing_stop["atr"])


def test_the_rsi_mean_reversion_enters_only_when_flat():
    live = Evaluator(compile_graph(template("rsi_mean_reversion")), "AAPL")
    buys = 0
    for b in BARS[:1500]:
        decisions = live.on_bar(b)
        if decisions and decisions[0].action == "buy":
            buys += 1
            assert live.book.side == 0, "the position node read flat on this bar"
            assert decisions[0].take_profit == {"mode": "percent", "percent": 3.0}
    assert buys >= 2
