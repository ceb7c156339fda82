"""A decision says why: the trigger, the nodes above it, its sizing and exits, with their values at the bar."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import talib

from strategies.engine import Evaluator, compile_graph, run_history
from strategies.engine.decisions import Decision
from strategies.engine.tests.helpers import edge, graph, node, template, walk_bars
from strategies.engine.why import json_safe

BARS = walk_bars(3000, seed=3)
COLUMNS = {name: np.array([float(getattr(b, name)) for b in BARS]) for name in ("open", "high", "low", "close")}


def at(decision: Decision) -> int:
    """The index in BARS of the deciding bar."""
    return next(i for i, b in enumerate(BARS) if b.time == decision.bar_time)


def upto(name: str, k: int) -> np.ndarray:
    """A price column over bars 0..k only, so the reference values cannot see past the deciding bar."""
    return COLUMNS[name][: k + 1]


def test_an_ema_crossover_buy_names_its_trigger_and_the_averages_above_it_with_their_values():
    buys = [d for d in run_history(compile_graph(template("ema_crossover")), BARS) if d.action == "buy"]
    assert len(buys) >= 3
    for decision in buys[:3]:
        k, why = at(decision), decision.why
        # The close's own trigger (the crossunder) decided nothing here.
        assert set(why) == {"bar", "fast", "slow", "up", "size", "stop"}
        assert why["up"] == {"type": "crossover", "outputs": {"result": True}}
        fast, slow = talib.EMA(upto("close", k), 12), talib.EMA(upto("close", k), 26)
        assert why["fast"]["type"] == why["slow"]["type"] == "ema"
        assert why["fast"]["outputs"]["value"] == pytest.approx(fast[-1], rel=1e-12)
        assert why["slow"]["outputs"]["value"] == pytest.approx(slow[-1], rel=1e-12)
        assert fast[-1] > slow[-1] and fast[-2] <= slow[-2], "the crossover the values show"
        assert why["bar"]["outputs"]["close"] == pytest.approx(float(BARS[k].close)) == decision.close_price
        assert why["size"] == {
            "type": "fixed_quantity",
            "outputs": {"sizing": {"kind": "fixed_quantity", "quantity": 100}},
        }
        assert why["stop"]["outputs"]["exit"] == decision.stop_loss


def test_an_rsi_entry_shows_the_position_it_read_and_the_rsi_below_its_threshold():
    buys = [d for d in run_history(compile_graph(template("rsi_mean_reversion")), BARS) if d.action == "buy"]
    assert buys
    decision = buys[0]
    k, why = at(decision), decision.why
    assert why["position"] == {
        "type": "position",
        "outputs": {"is_flat": True, "is_long": False, "is_short": False, "entry_price": None, "bars_in_position": 0},
    }
    rsi = talib.RSI(upto("close", k), 14)[-1]
    assert why["rsi"]["outputs"]["value"] == pytest.approx(rsi, rel=1e-12) and rsi < 30
    assert why["oversold"]["outputs"]["value"] == 30.0
    assert why["entry"] == {"type": "and", "outputs": {"result": True}}
    assert "overbought" not in why and "high" not in why, "the close's signals did not decide the buy"


def test_a_bollinger_breakout_shows_the_bands_and_the_atr_its_exits_rest_on():
    buy = next(d for d in run_history(compile_graph(template("bollinger_breakout")), BARS) if d.action == "buy")
    k, why = at(buy), buy.why
    upper, middle, lower = (series[-1] for series in talib.BBANDS(upto("close", k), 20, 2.0, 2.0))
    assert why["bands"]["outputs"] == pytest.approx({"upper": upper, "middle": middle, "lower": lower}, rel=1e-9)
    atr = talib.ATR(upto("high", k), upto("low", k), upto("close", k), 14)[-1]
    assert why["atr"]["outputs"]["value"] == pytest.approx(atr, rel=1e-12)
    assert why["stop"]["outputs"]["exit"]["distance"] == pytest.approx(2.0 * atr, rel=1e-12)
    assert why["trail"]["type"] == "trailing_stop" and why["risk"]["type"] == "risk_per_trade"


def test_why_is_the_same_bar_by_bar_as_in_one_pass_and_plain_json():
    plan = compile_graph(template("rsi_mean_reversion"))
    live = Evaluator(plan, "AAPL")
    one_by_one = [d for b in BARS[:1500] for d in live.on_bar(b)]
    assert one_by_one and [d.why for d in one_by_one] == [d.why for d in run_history(plan, BARS[:1500])]
    for decision in one_by_one:
        text = json.dumps(decision.why, allow_nan=False)
        assert json.loads(text) == decision.why
        for entry in decision.why.values():
            for value in entry["outputs"].values():
                assert value is None or type(value) in (bool, int, float, dict), type(value)


def test_a_decision_with_why_equals_the_same_decision_without():
    decision = run_history(compile_graph(template("ema_crossover")), BARS)[0]
    assert decision.why
    assert dataclasses.replace(decision, why=None) == decision
    assert dataclasses.replace(decision, why={"other": {}}) == decision


def test_a_trigger_with_no_indicator_above_it_is_read_alone():
    g = graph(
        [
            node("bar", "bar"),
            node("level", "constant", value=0.0),
            node("cmp", "compare", operator=">"),
            node("buy", "buy"),
        ],
        [edge("bar", "close", "cmp", "a"), edge("level", "value", "cmp", "b"), edge("cmp", "result", "buy", "when")],
    )
    decision = run_history(compile_graph(g), BARS[:5])[0]
    assert set(decision.why) == {"bar", "level", "cmp"}
    assert decision.why["level"] == {"type": "constant", "outputs": {"value": 0.0}}


def test_json_safe_makes_numpy_and_non_finite_values_plain():
    assert json_safe({"a": np.float64(1.5), "b": np.bool_(True), "c": math.nan, "d": -math.inf, "e": np.int64(3)}) == {
        "a": 1.5,
        "b": True,
        "c": None,
        "d": None,
        "e": 3,
    }
    assert type(json_safe(np.float64(2.0))) is float and type(json_safe(np.bool_(False))) is bool
