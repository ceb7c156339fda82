"""Indicator nodes: each value is TA-Lib's (VWAP, which TA-Lib lacks, is talipp's), never a formula of ours.

TA-Lib computes a whole history in C in one call, and its output at bar t depends only on bars up
to t, so the history run and the live evaluator (which recomputes over the bars so far) agree bar
for bar. Each node's warm-up is TA-Lib's own lookback for its parameters.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import talib
from talib import abstract
from talipp.indicators import VWAP
from talipp.ohlcv import OHLCV

from strategies.engine.nodes import NUMBER, NodeType, Param, Port

SERIES = (Port("series", NUMBER),)
VALUE = (Port("value", NUMBER),)


def _period(default: int, low: int = 2, high: int = 500, name: str = "period") -> Param:
    return Param(name, "int", default, low, high)


@functools.lru_cache(maxsize=1024)
def _talib_lookback(function: str, items: tuple[tuple[str, float], ...]) -> int:
    indicator = abstract.Function(function)
    indicator.parameters = dict(items)
    return int(indicator.lookback)


def _lookback(function: str, names: dict[str, str]):
    """A lookback reading TA-Lib's for ``function``, ``names`` mapping our parameters to TA-Lib's."""

    def lookback(params) -> int:
        return _talib_lookback(function, tuple(sorted((names[k], params[k]) for k in names)))

    return lookback


def _series_indicator(type_, label, description, function, default):
    def compute(_ctx, inputs, params):
        return {"value": function(_floats(inputs["series"]), timeperiod=params["period"])}

    return NodeType(
        type_,
        "indicator",
        label,
        description,
        inputs=SERIES,
        outputs=VALUE,
        params=(_period(default, 1 if type_ in ("highest", "lowest", "roc") else 2),),
        compute=compute,
        lookback=_lookback(function.__name__, {"period": "timeperiod"}),
    )


def _floats(values) -> np.ndarray:
    # TA-Lib wants contiguous float64; a boolean or integer column is converted, not refused.
    return np.ascontiguousarray(values, dtype=np.float64)


def _macd(_ctx, inputs, params):
    macd, signal, hist = talib.MACD(_floats(inputs["series"]), params["fast"], params["slow"], params["signal"])
    return {"macd": macd, "signal": signal, "histogram": hist}


def _macd_check(params):
    return [("fast", "must be below slow")] if params["fast"] >= params["slow"] else []


def _bbands(_ctx, inputs, params):
    upper, middle, lower = talib.BBANDS(
        _floats(inputs["series"]), params["period"], params["deviations"], params["deviations"], 0
    )
    return {"upper": upper, "middle": middle, "lower": lower}


def _atr(ctx, _inputs, params):
    return {"value": talib.ATR(ctx.column("high"), ctx.column("low"), ctx.column("close"), params["period"])}


def _stochastic(ctx, _inputs, params):
    k, d = talib.STOCH(
        ctx.column("high"),
        ctx.column("low"),
        ctx.column("close"),
        fastk_period=params["k_period"],
        slowk_period=params["k_smoothing"],
        slowk_matype=0,
        slowd_period=params["d_period"],
        slowd_matype=0,
    )
    return {"k": k, "d": d}


def session_vwap(high, low, close, volume, session) -> np.ndarray:
    """talipp's VWAP restarted at each session (``session`` numbers the bars' sessions)."""
    out = np.full(len(close), np.nan)
    if not len(close):
        return out
    starts = np.flatnonzero(np.diff(session, prepend=np.nan) != 0)
    bounds = [*starts.tolist(), len(close)]
    for start, end in itertools.pairwise(bounds):
        vwap = VWAP(
            [
                OHLCV(None, h, lo, c, v)
                for h, lo, c, v in zip(*(a[start:end] for a in (high, low, close, volume)), strict=True)
            ]
        )
        out[start:end] = [np.nan if value is None else value for value in vwap]
    return out


def _vwap(ctx, _inputs, _params):
    columns = (ctx.column(name) for name in ("high", "low", "close", "volume"))
    return {"value": session_vwap(*columns, ctx.session_column("session"))}


NODES = (
    _series_indicator("sma", "SMA", "Simple moving average of a series.", talib.SMA, 20),
    _series_indicator(
        "ema", "EMA", "Exponential moving average (seeded with the SMA of its first period).", talib.EMA, 20
    ),
    _series_indicator("wma", "WMA", "Linearly weighted moving average.", talib.WMA, 20),
    _series_indicator("rsi", "RSI", "Wilder's relative strength index, 0 to 100.", talib.RSI, 14),
    _series_indicator("highest", "Highest", "The highest value of a series over the last period bars.", talib.MAX, 20),
    _series_indicator("lowest", "Lowest", "The lowest value of a series over the last period bars.", talib.MIN, 20),
    _series_indicator("roc", "Rate of change", "Percent change over the last period bars.", talib.ROC, 10),
    NodeType(
        "macd",
        "indicator",
        "MACD",
        "Moving average convergence/divergence: the MACD line, its signal line and their difference.",
        inputs=SERIES,
        outputs=(Port("macd", NUMBER), Port("signal", NUMBER), Port("histogram", NUMBER)),
        params=(_period(12, name="fast"), _period(26, name="slow"), _period(9, 1, name="signal")),
        compute=_macd,
        lookback=_lookback("MACD", {"fast": "fastperiod", "slow": "slowperiod", "signal": "signalperiod"}),
        check=_macd_check,
    ),
    NodeType(
        "bollinger",
        "indicator",
        "Bollinger Bands",
        "An SMA of the series (middle) with bands a number of standard deviations above and below.",
        inputs=SERIES,
        outputs=(Port("upper", NUMBER), Port("middle", NUMBER), Port("lower", NUMBER)),
        params=(_period(20), Param("deviations", "float", 2.0, 0.1, 10.0)),
        compute=_bbands,
        lookback=_lookback("BBANDS", {"period": "timeperiod"}),
    ),
    NodeType(
        "atr",
        "indicator",
        "ATR",
        "Wilder's average true range of the strategy's bars.",
        inputs=(),
        outputs=VALUE,
        params=(_period(14, 1),),
        compute=_atr,
        lookback=_lookback("ATR", {"period": "timeperiod"}),
    ),
    NodeType(
        "stochastic",
        "indicator",
        "Stochastic",
        "Slow stochastic of the strategy's bars: %K (smoothed) and %D (its average), 0 to 100.",
        inputs=(),
        outputs=(Port("k", NUMBER), Port("d", NUMBER)),
        params=(_period(14, 1, name="k_period"), _period(3, 1, name="k_smoothing"), _period(3, 1, name="d_period")),
        compute=_stochastic,
        lookback=_lookback(
            "STOCH", {"k_period": "fastk_period", "k_smoothing": "slowk_period", "d_period": "slowd_period"}
        ),
    ),
    NodeType(
        "vwap",
        "indicator",
        "VWAP",
        "Volume-weighted average of the typical price (high+low+close)/3, restarted at each session's open.",
        inputs=(),
        outputs=VALUE,
        params=(),
        compute=_vwap,
    ),
)
