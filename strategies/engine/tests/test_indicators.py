"""Every indicator node against the library's own output on the same bars, and its warm-up."""

from __future__ import annotations

import math

import numpy as np
import pytest
import talib
from talipp.indicators import VWAP
from talipp.ohlcv import OHLCV

from marketdata import sessions
from strategies.engine import compile_graph
from strategies.engine.evaluator import compute_series
from strategies.engine.history import BarHistory
from strategies.engine.tests.helpers import edge, graph, node, walk_bars

BARS = walk_bars(1200, seed=11)  # three sessions and a bit of one-minute bars
HISTORY = BarHistory.of(BARS)
HIGH, LOW, CLOSE, VOLUME = (HISTORY.column(c) for c in ("high", "low", "close", "volume"))


def outputs_of(node_type: str, outputs: tuple[str, ...], series_input: bool, **params) -> dict[str, np.ndarray]:
    """The node's outputs over BARS, computed by the compiled plan as the evaluator computes them."""
    nodes = [node("bar", "bar"), node("ind", node_type, **params), node("buy", "buy"), node("and", "and")]
    edges = [edge("bar", "close", "ind", "series")] if series_input else []
    # Each output reaches the buy through a comparison, so every output's step is in the plan.
    for i, out in enumerate(outputs):
        nodes.append(node(f"cmp{i}", "compare"))
        edges += [edge("ind", out, f"cmp{i}", "a"), edge("bar", "close", f"cmp{i}", "b")]
    edges += [edge("cmp0", "result", "and", "a"), edge(f"cmp{len(outputs) - 1}", "result", "and", "b")]
    edges.append(edge("and", "result", "buy", "when"))
    plan = compile_graph(graph(nodes, edges))
    values = compute_series(plan, HISTORY)
    return {out: values[("ind", out)] for out in outputs}


def same(ours, theirs) -> None:
    np.testing.assert_array_equal(np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float))


@pytest.mark.parametrize(
    ("node_type", "function", "period"),
    [
        ("sma", talib.SMA, 20),
        ("ema", talib.EMA, 9),
        ("wma", talib.WMA, 15),
        ("rsi", talib.RSI, 14),
        ("highest", talib.MAX, 30),
        ("lowest", talib.MIN, 30),
        ("roc", talib.ROC, 12),
    ],
)
def test_a_one_series_indicator_is_talibs(node_type, function, period):
    got = outputs_of(node_type, ("value",), True, period=period)
    same(got["value"], function(CLOSE, timeperiod=period))
    assert not math.isnan(got["value"][-1])


def test_macd_is_talibs_three_outputs():
    got = outputs_of("macd", ("macd", "signal", "histogram"), True, fast=8, slow=21, signal=5)
    macd, signal, hist = talib.MACD(CLOSE, fastperiod=8, slowperiod=21, signalperiod=5)
    same(got["macd"], macd)
    same(got["signal"], signal)
    same(got["histogram"], hist)


def test_bollinger_bands_are_talibs_three_outputs():
    got = outputs_of("bollinger", ("upper", "middle", "lower"), True, period=18, deviations=2.5)
    upper, middle, lower = talib.BBANDS(CLOSE, timeperiod=18, nbdevup=2.5, nbdevdn=2.5, matype=0)
    same(got["upper"], upper)
    same(got["middle"], middle)
    same(got["lower"], lower)


def test_atr_is_talibs():
    same(outputs_of("atr", ("value",), False, period=10)["value"], talib.ATR(HIGH, LOW, CLOSE, timeperiod=10))


def test_the_stochastic_is_talibs_slow_k_and_d():
    got = outputs_of("stochastic", ("k", "d"), False, k_period=9, k_smoothing=4, d_period=5)
    k, d = talib.STOCH(HIGH, LOW, CLOSE, fastk_period=9, slowk_period=4, slowk_matype=0, slowd_period=5, slowd_matype=0)
    same(got["k"], k)
    same(got["d"], d)


def test_vwap_is_talipps_restarted_at_each_session_open():
    got = outputs_of("vwap", ("value",), False)["value"]
    calendar = sessions.calendar()
    days = [calendar.at(b.time).day for b in BARS]
    assert len(set(days)) >= 3
    for day in sorted(set(days)):
        index = [i for i, d in enumerate(days) if d == day]
        theirs = VWAP([OHLCV(None, HIGH[i], LOW[i], CLOSE[i], VOLUME[i]) for i in index])
        same(got[index], list(theirs))
    first_of_second_day = days.index(sorted(set(days))[1])
    typical = (HIGH[first_of_second_day] + LOW[first_of_second_day] + CLOSE[first_of_second_day]) / 3
    assert got[first_of_second_day] == pytest.approx(typical)


@pytest.mark.parametrize(
    ("chain", "params"),
    [
        (("sma",), [{"period": 20}]),
        (("ema",), [{"period": 50}]),
        (("rsi", "sma"), [{"period": 14}, {"period": 10}]),
        (("macd",), [{"fast": 12, "slow": 26, "signal": 9}]),
        (("wma", "roc", "ema"), [{"period": 7}, {"period": 5}, {"period": 3}]),
    ],
)
def test_the_warm_up_of_a_chain_is_the_first_bar_with_a_value(chain, params):
    nodes = [node("bar", "bar"), node("zero", "constant"), node("cmp", "compare"), node("buy", "buy")]
    edges = [edge("zero", "value", "cmp", "b"), edge("cmp", "result", "buy", "when")]
    previous = ("bar", "close")
    for i, (node_type, p) in enumerate(zip(chain, params, strict=True)):
        nodes.append(node(f"n{i}", node_type, **p))
        edges.append(edge(*previous, f"n{i}", "series"))
        previous = (f"n{i}", "macd" if node_type == "macd" else "value")
    edges.append(edge(*previous, "cmp", "a"))
    plan = compile_graph(graph(nodes, edges))
    last = compute_series(plan, HISTORY)[previous]
    first_valid = int(np.flatnonzero(~np.isnan(last))[0])
    assert plan.warmup == first_valid
