"""A backtest from a compiled graph: the evaluator's decisions through the simulator, chunked or at once."""

from __future__ import annotations

from dataclasses import replace

import pytest

from strategies.backtest import BacktestRun, SlippageModel, run_backtest
from strategies.engine import compile_graph
from strategies.engine.tests.helpers import edge, graph, node, template, walk_bars
from strategies.engine.tests.test_evaluator import above, flat_bars


def test_the_engines_decision_fills_at_the_next_open():
    # The close crosses above 11 on bar 2 (12.00); the buy fills at bar 3's open, 12.25, not at 12.00.
    bars = flat_bars([10, 10, 12, 12.5, 13], opens=[10, 10, 11, 12.25, 12.5])
    result = run_backtest(compile_graph(above(11)), {"AAPL": bars}, starting_cash=1000, fee_model="fixed")
    (trade,) = result.open_trades
    assert (trade.entry_time, trade.entry_price, trade.decided_at) == (bars[3].time, 12.25, bars[2].time)
    # One share at $12.25: the fixed minimum $1.00 is capped at 1% of $12.25 = $0.1225.
    assert trade.entry_fee == pytest.approx(0.1225)
    # Equity after bar 4: 1000 - 12.25 - 0.1225 + 13.00 = 1000.6275.
    assert result.equity[-1] == pytest.approx(1000.6275)
    assert result.metrics["trade_count"] == 0 and result.metrics["exposure"] == pytest.approx(2 / 5)


def ema_with_exits() -> dict:
    """The EMA crossover template (a stop-loss and a take-profit on its entry)."""
    return template("ema_crossover")


def test_chunks_give_the_same_trades_and_curve_as_one_run_and_the_positions_agree():
    bars = walk_bars(3000, seed=11)
    plan = compile_graph(ema_with_exits())
    options = {"starting_cash": 50_000, "resolution": "1", "fee_model": "tiered", "slippage": SlippageModel("bps", 2)}
    whole = run_backtest(plan, {"AAPL": bars}, **options)
    run = BacktestRun(plan, ["AAPL"], **options)
    for start in range(0, len(bars), 700):
        run.feed("AAPL", bars[start : start + 700])
        evaluator, sim = run.evaluators["AAPL"], run.simulators["AAPL"]
        assert (sim.side, sim.pending) == (evaluator.book.side, evaluator.book.pending)
    chunked = run.result()
    assert whole.metrics["trade_count"] > 3
    assert [t.as_dict() for t in chunked.trades] == [t.as_dict() for t in whole.trades]
    assert chunked.equity == pytest.approx(whole.equity)
    assert chunked.metrics == pytest.approx(whole.metrics)


def test_two_symbols_share_the_cash_and_their_equity_adds_up():
    nodes = [node("bar", "bar"), node("level", "constant", value=0), node("cmp", "compare"), node("buy", "buy")]
    edges = [edge("bar", "close", "cmp", "a"), edge("level", "value", "cmp", "b"), edge("cmp", "result", "buy", "when")]
    plan = compile_graph(graph(nodes, edges))
    a = flat_bars([10, 11, 12, 13])
    b = [replace(bar, symbol="MSFT") for bar in flat_bars([20, 19, 21, 22])]
    result = run_backtest(plan, {"AAPL": a, "MSFT": b}, starting_cash=2000, fee_model="none")
    # Each symbol starts with $1,000; each buys one share at its bar 1 open.
    aapl = 1000 - 11 + 13
    msft = 1000 - 19 + 22
    assert result.equity[-1] == pytest.approx(aapl + msft)
    assert result.times == [bar.time for bar in a]
    assert len(result.open_trades) == 2


def test_thinned_equity_curve_keeps_its_first_and_last_points():
    bars = walk_bars(1000, seed=5)
    result = run_backtest(compile_graph(ema_with_exits()), {"AAPL": bars}, starting_cash=10_000)
    data = result.as_dict(max_points=100)
    times = data["equity_curve"]["time"]
    assert len(times) <= 101 and times[0] == bars[0].time and times[-1] == bars[-1].time
