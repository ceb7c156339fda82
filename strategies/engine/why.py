"""Why a strategy decided: the values of the nodes that decided an action, at the deciding bar, JSON-ready."""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np

from strategies.engine.catalogue import REGISTRY
from strategies.engine.plan import ActionStep, Plan, Source, Step


def explain(
    plan: Plan,
    action: ActionStep,
    read: Callable[[Source], Any],
    attached: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """{node id: {"type": node type, "outputs": {port: value}}} for the nodes deciding ``action``.

    The nodes are those of ``plan.deciding_nodes`` (the trigger and everything above it, and what
    feeds the sizing and exits), each with every output ``read`` gives at the bar, then the
    action's sizing and exit nodes with their outputs as computed for the decision (``attached``:
    by node id). Values are made JSON-safe (``json_safe``).
    """
    steps = {step.node: step for step in plan.steps}
    out: dict[str, dict[str, Any]] = {}
    for node in plan.deciding_nodes[action.node]:
        step = steps.get(node)
        node_type = step.node_type if step is not None else REGISTRY["position"]
        out[node] = {
            "type": node_type.type,
            "outputs": {port.name: json_safe(read((node, port.name))) for port in node_type.outputs},
        }
    for step in _attached_steps(action):
        if step.node in attached:
            out[step.node] = {
                "type": step.node_type.type,
                "outputs": {step.node_type.outputs[0].name: json_safe(attached[step.node])},
            }
    return out


def _attached_steps(action: ActionStep) -> list[Step]:
    return [step for step in (action.sizing, *(step for _role, step in action.exits)) if step is not None]


def json_safe(value: Any) -> Any:
    """``value`` as JSON takes it: numpy scalars as Python's, NaN and infinities as None, dicts and lists walked."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating | Decimal):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(item) for item in value]
    return str(value)
