"""Position state, the order actions (buy, sell, close), their exits and their sizing.

The evaluator interprets these: ``position`` reads its own position as of the bar; an action fires
on a bar where its ``when`` is true; exits and sizing are read at that bar and travel on the
Decision as specifications the backtester (and the live runner) turn into orders.
"""

from __future__ import annotations

import math

from strategies.engine.nodes import BOOLEAN, NUMBER, SCALAR, SIGNAL, NodeType, Param, Port

EXIT_ROLES = ("stop_loss", "take_profit", "trailing_stop")
ACTIONS = ("buy", "sell", "close")


def _exit(role: str):
    def compute(_ctx, inputs, params):
        if params["mode"] == "percent":
            return {"exit": {"mode": "percent", "percent": params["percent"]}}
        atr = float(inputs["atr"])
        # While the ATR warms up the exit has no distance yet; the evaluator then makes no decision.
        distance = None if math.isnan(atr) else params["atr_multiple"] * atr
        return {"exit": {"mode": "atr", "atr_multiple": params["atr_multiple"], "atr": atr, "distance": distance}}

    return compute


def _needs_atr(params) -> tuple[str, ...]:
    return ("atr",) if params["mode"] == "atr" else ()


def _exit_node(role: str, label: str, description: str, percent: float) -> NodeType:
    return NodeType(
        role,
        "risk",
        label,
        description,
        inputs=(Port("atr", NUMBER, required=False),),
        outputs=(Port("exit", SIGNAL, role=role),),
        params=(
            Param("mode", "choice", "percent", choices=("percent", "atr")),
            Param("percent", "float", percent, 0.01, 50.0, description="distance from the fill price, percent"),
            Param("atr_multiple", "float", 2.0, 0.1, 20.0, description="distance in ATRs (mode atr)"),
        ),
        compute=_exit(role),
        pointwise=True,
        needs=_needs_atr,
    )


def _sizing(kind: str, param: str):
    def compute(_ctx, _inputs, params):
        return {"sizing": {"kind": kind, param: params[param]}}

    return compute


def _sizing_node(type_, label, description, param: Param) -> NodeType:
    return NodeType(
        type_,
        "sizing",
        label,
        description,
        inputs=(),
        outputs=(Port("sizing", SIGNAL, role="sizing"),),
        params=(param,),
        compute=_sizing(type_, param.name),
        pointwise=True,
    )


def _action(type_: str, label: str, description: str) -> NodeType:
    inputs = [Port("when", BOOLEAN)]
    if type_ != "close":
        inputs.append(Port("sizing", SIGNAL, required=False, role="sizing", many=True))
        inputs.extend(Port(role, SIGNAL, required=False, role=role) for role in EXIT_ROLES)
    return NodeType(type_, "action", label, description, tuple(inputs), (), ())


NODES = (
    NodeType(
        "position",
        "position",
        "Position",
        "The strategy's own position as of this bar: flat, long or short, the entry price (NaN when flat) "
        "and the bars held since the entry filled (0 when flat).",
        inputs=(),
        outputs=(
            Port("is_flat", BOOLEAN),
            Port("is_long", BOOLEAN),
            Port("is_short", BOOLEAN),
            Port("entry_price", SCALAR),
            Port("bars_in_position", SCALAR),
        ),
        params=(),
    ),
    _action("buy", "Buy", "Go long when true: from flat, or reversing a short. Ignored when already long."),
    _action("sell", "Sell", "Go short when true: from flat, or reversing a long. Ignored when already short."),
    _action("close", "Close", "Close the position when true. Ignored when flat."),
    _exit_node("stop_loss", "Stop-loss", "Exit at a loss of a percent or a multiple of ATR from the fill.", 2.0),
    _exit_node("take_profit", "Take-profit", "Exit at a gain of a percent or a multiple of ATR from the fill.", 4.0),
    _exit_node(
        "trailing_stop",
        "Trailing stop",
        "Exit when price falls back by a percent or ATRs from its best since the fill.",
        3.0,
    ),
    _sizing_node(
        "fixed_quantity",
        "Fixed quantity",
        "Trade a fixed number of shares.",
        Param("quantity", "int", 100, 1, 1_000_000),
    ),
    _sizing_node(
        "percent_of_equity",
        "Percent of equity",
        "Trade shares worth a percent of the account's equity at the fill.",
        Param("percent", "float", 10.0, 0.1, 100.0),
    ),
    _sizing_node(
        "risk_per_trade",
        "Risk per trade",
        "Trade as many shares as lose a percent of equity if the action's stop-loss is hit (needs a stop-loss).",
        Param("percent", "float", 1.0, 0.01, 10.0),
    ),
)
