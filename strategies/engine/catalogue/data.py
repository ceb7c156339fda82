"""Data nodes: the bar's prices and volume, constants, and where a bar falls in its session."""

from __future__ import annotations

import numpy as np

from strategies.engine.nodes import BOOLEAN, NUMBER, NodeType, Param, Port


def _bar(ctx, _inputs, _params):
    return {name: ctx.column(name) for name in ("open", "high", "low", "close", "volume")}


def _constant(ctx, _inputs, params):
    return {"value": np.full(len(ctx), float(params["value"]))}


def _session(ctx, _inputs, _params):
    return {
        "minutes_since_open": ctx.session_column("minutes_since_open"),
        "is_first_bar": ctx.session_column("first"),
        "is_last_bar": ctx.session_column("last"),
    }


def _time_of_day(ctx, _inputs, _params):
    return {"minute": ctx.session_column("minute_of_day")}


NODES = (
    NodeType(
        "bar",
        "data",
        "Bar",
        "The strategy's bar: open, high, low, close and volume of each closed bar.",
        inputs=(),
        outputs=tuple(Port(name, NUMBER) for name in ("open", "high", "low", "close", "volume")),
        params=(),
        compute=_bar,
    ),
    NodeType(
        "constant",
        "data",
        "Constant",
        "A fixed number on every bar (a threshold, a level).",
        inputs=(),
        outputs=(Port("value", NUMBER),),
        params=(Param("value", "float", 0.0, -1e9, 1e9),),
        compute=_constant,
    ),
    NodeType(
        "session",
        "data",
        "Session",
        "Where the bar falls in the exchange's regular session: minutes since the open (NaN outside it), "
        "and whether it is the session's first or last bar.",
        inputs=(),
        outputs=(Port("minutes_since_open", NUMBER), Port("is_first_bar", BOOLEAN), Port("is_last_bar", BOOLEAN)),
        params=(),
        compute=_session,
    ),
    NodeType(
        "time_of_day",
        "data",
        "Time of day",
        "The bar's start as minutes since midnight in the exchange's time zone (09:30 is 570).",
        inputs=(),
        outputs=(Port("minute", NUMBER),),
        params=(),
        compute=_time_of_day,
    ),
)
