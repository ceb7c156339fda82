"""The evaluator's semantics: closed bars only, decisions stamped with their bar, fills at the next open,
the position as of the bar, exits resting after the fill, one decision a bar, nothing before the warm-up."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pytest
import time_machine

from marketdata import sessions
from marketdata.bars import BarRecord
from strategies.engine import BarRefused, Evaluator, compile_graph, run_history
from strategies.engine.evaluator import compute_series
from strategies.engine.history import BarHistory
from strategies.engine.tests.helpers import bar, edge, graph, node

T0 = sessions.calendar().on(date(2026, 3, 3)).open


def flat_bars(closes: list[float], *, lows=None, highs=None, opens=None) -> list[BarRecord]:
    out = []
    for i, c in enumerate(closes):
        o = opens[i] if opens else c
        out.append(bar(T0 + 60 * i, o, highs[i] if highs else max(o, c), lows[i] if lows else min(o, c), c))
    return out


def decide(g, bars) -> list[tuple[str, int]]:
    """(action, bar index) of each decision, checked to be the same through on_bar and run_history."""
    plan = compile_graph(g)
    evaluator = Evaluator(plan, "AAPL")
    live = [d for b in bars for d in evaluator.on_bar(b)]
    assert live == run_history(plan, bars)
    return [(d.action, (d.bar_time - T0) // 60) for d in live]


def above(level: float, *, extra_nodes=(), extra_edges=()) -> dict:
    """Buy when the close is above ``level``, with extra nodes and edges."""
    nodes = [node("bar", "bar"), node("level", "constant", value=level), node("cmp", "compare"), node("buy", "buy")]
    edges = [edge("bar", "close", "cmp", "a"), edge("level", "value", "cmp", "b"), edge("cmp", "result", "buy", "when")]
    return graph(nodes + list(extra_nodes), edges + list(extra_edges))


def test_a_decision_is_stamped_with_its_bar_and_fills_at_the_next_open():
    bars = flat_bars([10, 10, 12, 12.5, 13], opens=[10, 10, 11, 12.25, 12.5])
    plan = compile_graph(above(11))
    evaluator = Evaluator(plan, "AAPL")
    assert evaluator.on_bar(bars[0]) == evaluator.on_bar(bars[1]) == []
    (decision,) = evaluator.on_bar(bars[2])
    assert (decision.action, decision.bar_time, decision.node, decision.close_price) == (
        "buy",
        bars[2].time,
        "buy",
        12.0,
    )
    assert decision.sizing == {"kind": "fixed_quantity", "quantity": 1} and decision.quantity == 1
    assert evaluator.book.side == 0, "nothing fills on the bar that decided"
    assert evaluator.on_bar(bars[3]) == []
    assert (evaluator.book.side, evaluator.book.entry_price) == (1, 12.25)


def test_position_state_reads_the_evaluators_own_position_as_of_the_bar():
    g = graph(
        [
            node("pos", "position"), node("three", "constant", value=3), node("held", "compare", operator=">="),
            node("buy", "buy"), node("close", "close"),
        ],
        [
            edge("pos", "is_flat", "buy", "when"), edge("pos", "bars_in_position", "held", "a"),
            edge("three", "value", "held", "b"), edge("held", "result", "close", "when"),
        ],
    )  # fmt: skip
    got = decide(g, flat_bars([10.0] * 12))
    assert got == [("buy", 0), ("close", 3), ("buy", 4), ("close", 7), ("buy", 8), ("close", 11)]


def test_one_decision_a_bar_and_a_close_before_an_entry():
    g = above(0, extra_nodes=[node("close", "close")], extra_edges=[edge("cmp", "result", "close", "when")])
    assert decide(g, flat_bars([10.0] * 5)) == [("buy", 0), ("close", 1), ("buy", 2), ("close", 3), ("buy", 4)]


def test_no_decision_before_the_warm_up_even_when_a_trigger_is_true():
    g = graph(
        [
            node("bar", "bar"), node("zero", "constant"), node("sma", "sma", period=5), node("up", "compare"),
            node("avg", "compare"), node("either", "or"), node("buy", "buy"),
        ],
        [
            edge("bar", "close", "up", "a"), edge("zero", "value", "up", "b"), edge("bar", "close", "sma", "series"),
            edge("sma", "value", "avg", "a"), edge("zero", "value", "avg", "b"), edge("up", "result", "either", "a"),
            edge("avg", "result", "either", "b"), edge("either", "result", "buy", "when"),
        ],
    )  # fmt: skip
    assert compile_graph(g).warmup == 4
    assert decide(g, flat_bars([10.0] * 8)) == [("buy", 4)]


def entry_on_flat(exit_node: dict, role: str) -> dict:
    return graph(
        [node("pos", "position"), node("buy", "buy"), exit_node],
        [edge("pos", "is_flat", "buy", "when"), edge(exit_node["id"], "exit", "buy", role)],
    )


def test_a_stop_loss_rests_from_the_fill_and_flattens_the_position_on_the_bar_that_reaches_it():
    g = entry_on_flat(node("stop", "stop_loss", percent=2.0), "stop_loss")
    # Fill at bar 1's open (100): the stop rests at 98; bar 2 stays above it, bar 3 reaches it.
    bars = flat_bars([100, 100, 99, 99, 99], opens=[100, 100, 100, 99, 99], lows=[99, 99.5, 98.1, 97.9, 99])
    got = decide(g, bars)
    assert got == [("buy", 0), ("buy", 3)]
    plan = compile_graph(g)
    assert run_history(plan, bars)[0].stop_loss == {"mode": "percent", "percent": 2.0}


def test_a_take_profit_rests_from_the_fill():
    g = entry_on_flat(node("take", "take_profit", percent=5.0), "take_profit")
    bars = flat_bars([100, 100, 104, 104, 104], opens=[100, 100, 100, 104, 104], highs=[100, 104.9, 105.2, 104, 104])
    assert decide(g, bars) == [("buy", 0), ("buy", 2)]


def test_a_trailing_stop_follows_the_best_high_since_the_fill():
    g = entry_on_flat(node("trail", "trailing_stop", percent=3.0), "trailing_stop")
    # Fill at 100, trail 3.00: bar 1 makes a high of 110 (level 107); bar 2's low 107.5 holds, bar 3's 106.9 does not.
    bars = flat_bars(
        [100, 109, 108, 107, 107], opens=[100, 100, 109, 108, 107], highs=[100, 110, 109, 108, 107],
        lows=[100, 100, 107.5, 106.9, 107],
    )  # fmt: skip
    assert decide(g, bars) == [("buy", 0), ("buy", 3)]


def test_an_atr_stop_travels_with_the_atr_of_the_deciding_bar():
    g = above(
        0,
        extra_nodes=[node("atr", "atr", period=3), node("stop", "stop_loss", mode="atr", atr_multiple=2.0)],
        extra_edges=[edge("atr", "value", "stop", "atr"), edge("stop", "exit", "buy", "stop_loss")],
    )
    bars = flat_bars([10, 11, 12, 13, 14, 15])
    plan = compile_graph(g)
    assert plan.warmup == 3
    (decision,) = run_history(plan, bars)
    assert decision.bar_time == bars[3].time
    assert decision.stop_loss["atr"] == pytest.approx(1.0)
    assert decision.stop_loss["distance"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"closed": False}, "has not closed"),
        ({"symbol": "MSFT"}, "MSFT"),
        ({"resolution": "5"}, "5 bar"),
        ({"time": T0}, "does not come after"),
    ],
)
def test_a_bar_the_evaluator_may_not_read_is_refused(change, why):
    evaluator = Evaluator(compile_graph(above(0)), "AAPL")
    first, second = flat_bars([10, 10])
    evaluator.on_bar(first)
    with pytest.raises(BarRefused, match=why) as caught:
        evaluator.on_bar(replace(second, **change))
    assert caught.value.code == "strategy.bar_refused"
    assert len(evaluator.history) == 1, "a refused bar is not kept"


@time_machine.travel("2031-07-04 12:00:00Z", tick=False)
def test_session_nodes_know_the_first_and_last_bar_of_a_half_day():
    half_day = sessions.calendar().on(date(2026, 11, 27))
    bars = [bar(t, 10, 10, 10, 10) for t in range(half_day.open, half_day.close, 60)]
    g = graph(
        [node("s", "session"), node("clock", "time_of_day"), node("cmp", "compare", operator="<"),
         node("edge_bar", "or"), node("all", "and"), node("buy", "buy")],
        [edge("s", "minutes_since_open", "cmp", "a"), edge("clock", "minute", "cmp", "b"),
         edge("s", "is_first_bar", "edge_bar", "a"), edge("s", "is_last_bar", "edge_bar", "b"),
         edge("edge_bar", "result", "all", "a"), edge("cmp", "result", "all", "b"),
         edge("all", "result", "buy", "when")],
    )  # fmt: skip
    values = compute_series(compile_graph(g), BarHistory.of(bars))
    assert len(bars) == 210  # 09:30 to 13:00
    assert np.flatnonzero(values[("s", "is_first_bar")]).tolist() == [0]
    assert np.flatnonzero(values[("s", "is_last_bar")]).tolist() == [209]
    assert values[("s", "minutes_since_open")][[0, 1, 209]].tolist() == [0, 1, 209]
    assert values[("clock", "minute")][[0, 209]].tolist() == [570, 779]
    assert [(d.action, d.bar_time) for d in run_history(compile_graph(g), bars)] == [("buy", half_day.open)]


def test_hourly_bars_are_first_at_the_open_and_last_at_the_close():
    day = sessions.calendar().on(date(2026, 3, 3))
    times = [day.open, *range(day.open + 1800, day.close, 3600)]  # 09:30, 10:00, ..., 15:00
    bars = [replace(bar(t, 10, 10, 10, 10), resolution="60") for t in times]
    g = graph([node("s", "session"), node("buy", "buy")], [edge("s", "is_last_bar", "buy", "when")])
    values = compute_series(compile_graph(g), BarHistory.of(bars))
    assert values[("s", "is_first_bar")].tolist() == [True] + [False] * 6
    assert values[("s", "is_last_bar")].tolist() == [False] * 6 + [True]


def test_catching_up_on_history_then_going_live_decides_as_one_history_run():
    g = above(
        10.5,
        extra_nodes=[node("close", "close"), node("lo", "constant", value=10), node("under", "compare", operator="<")],
        extra_edges=[
            edge("bar", "close", "under", "a"),
            edge("lo", "value", "under", "b"),
            edge("under", "result", "close", "when"),
        ],
    )
    bars = flat_bars([10, 11, 9, 11, 11, 9.5, 12, 9, 11, 12])
    plan = compile_graph(g)
    evaluator = Evaluator(plan, "AAPL")
    caught_up = evaluator.catch_up(bars[:5])
    live = [d for b in bars[5:] for d in evaluator.on_bar(b)]
    assert caught_up + live == run_history(plan, bars)
    assert [d.action for d in caught_up + live] == ["buy", "close", "buy", "close", "buy", "close", "buy"]


def test_a_refused_bar_in_a_catch_up_keeps_none_of_its_bars():
    evaluator = Evaluator(compile_graph(above(0)), "AAPL")
    bars = flat_bars([10, 10, 10])
    with pytest.raises(BarRefused):
        evaluator.catch_up([bars[0], replace(bars[1], closed=False), bars[2]])
    assert len(evaluator.history) == 0
    assert len(evaluator.catch_up(bars)) == 1


@pytest.mark.parametrize(("buy_id", "sell_id", "first"), [("a_long", "z_short", "buy"), ("z_long", "a_short", "sell")])
def test_entries_on_one_bar_go_in_node_id_order(buy_id, sell_id, first):
    g = graph(
        [
            node("bar", "bar"),
            node("zero", "constant"),
            node("cmp", "compare"),
            node(buy_id, "buy"),
            node(sell_id, "sell"),
        ],
        [
            edge("bar", "close", "cmp", "a"),
            edge("zero", "value", "cmp", "b"),
            edge("cmp", "result", buy_id, "when"),
            edge("cmp", "result", sell_id, "when"),
        ],
    )
    assert decide(g, flat_bars([10.0]))[0] == (first, 0)


def test_the_entry_price_is_the_fill_at_the_next_open():
    g = graph(
        [
            node("bar", "bar"), node("pos", "position"), node("gain", "compare", operator=">"),
            node("long_gain", "and"), node("buy", "buy"), node("close", "close"),
        ],
        [
            edge("pos", "is_flat", "buy", "when"), edge("bar", "close", "gain", "a"),
            edge("pos", "entry_price", "gain", "b"),
            edge("gain", "result", "long_gain", "a"), edge("pos", "is_long", "long_gain", "b"),
            edge("long_gain", "result", "close", "when"),
        ],
    )  # fmt: skip
    # Decided on bar 0 (close 10.5), filled at bar 1's open (10): bar 1 closes at 10.2 > 10, not above bar 0's close.
    bars = flat_bars([10.5, 10.2, 11, 11], opens=[10, 10, 10.2, 11])
    assert decide(g, bars) == [("buy", 0), ("close", 1), ("buy", 2)]
