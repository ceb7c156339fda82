"""Logic nodes: comparisons, crossings, AND/OR/NOT and ranges, from numbers to truth values.

The pointwise ones run on whole arrays in a history run and on single values on the bar phase
(downstream of the position), with the same numpy operations. A comparison with a value still
warming up (NaN) is false.
"""

from __future__ import annotations

import numpy as np

from strategies.engine.nodes import BOOLEAN, NUMBER, SCALAR, NodeType, Param, Port

OPERATORS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal, "==": np.equal}


def _compare(_ctx, inputs, params):
    return {"result": OPERATORS[params["operator"]](inputs["a"], inputs["b"])}


def _crossing(above: bool):
    def compute(_ctx, inputs, _params):
        a, b = np.asarray(inputs["a"], dtype=float), np.asarray(inputs["b"], dtype=float)
        diff = a - b if above else b - a
        before = np.concatenate(([np.nan], diff[:-1]))
        return {"result": (diff > 0) & (before <= 0)}

    return compute


def _and(_ctx, inputs, _params):
    result = np.logical_and(inputs["a"], inputs["b"])
    return {"result": np.logical_and(result, inputs["c"]) if "c" in inputs else result}


def _or(_ctx, inputs, _params):
    result = np.logical_or(inputs["a"], inputs["b"])
    return {"result": np.logical_or(result, inputs["c"]) if "c" in inputs else result}


def _not(_ctx, inputs, _params):
    return {"result": np.logical_not(inputs["value"])}


def _range(_ctx, inputs, _params):
    value = inputs["value"]
    return {"result": np.logical_and(np.greater_equal(value, inputs["low"]), np.less_equal(value, inputs["high"]))}


RESULT = (Port("result", BOOLEAN),)
TWO_NUMBERS = (Port("a", SCALAR), Port("b", SCALAR))
TWO_SERIES = (Port("a", NUMBER), Port("b", NUMBER))
TRUTHS = (Port("a", BOOLEAN), Port("b", BOOLEAN), Port("c", BOOLEAN, required=False))


def _one_bar_back(_params) -> int:
    return 1


NODES = (
    NodeType(
        "compare",
        "logic",
        "Compare",
        "True where a compares with b as the operator says (false while either is warming up).",
        inputs=TWO_NUMBERS,
        outputs=RESULT,
        params=(Param("operator", "choice", ">", choices=tuple(OPERATORS)),),
        compute=_compare,
        pointwise=True,
    ),
    NodeType(
        "crossover",
        "logic",
        "Crossover",
        "True on the bar where a closes above b having been at or below it on the bar before.",
        inputs=TWO_SERIES,
        outputs=RESULT,
        params=(),
        compute=_crossing(above=True),
        lookback=_one_bar_back,
    ),
    NodeType(
        "crossunder",
        "logic",
        "Crossunder",
        "True on the bar where a closes below b having been at or above it on the bar before.",
        inputs=TWO_SERIES,
        outputs=RESULT,
        params=(),
        compute=_crossing(above=False),
        lookback=_one_bar_back,
    ),
    NodeType("and", "logic", "AND", "True where all inputs are true.", TRUTHS, RESULT, (), _and, pointwise=True),
    NodeType("or", "logic", "OR", "True where any input is true.", TRUTHS, RESULT, (), _or, pointwise=True),
    NodeType(
        "not",
        "logic",
        "NOT",
        "True where the input is false.",
        (Port("value", BOOLEAN),),
        RESULT,
        (),
        _not,
        pointwise=True,
    ),
    NodeType(
        "range",
        "logic",
        "Range",
        "True where value lies within [low, high], both ends included.",
        inputs=(Port("value", SCALAR), Port("low", SCALAR), Port("high", SCALAR)),
        outputs=RESULT,
        params=(),
        compute=_range,
        pointwise=True,
    ),
)
