"""The shape of a node type: its typed ports, its bounded parameters and its implementation.

Port kinds: ``number_series`` (a number on every bar, with its history), ``boolean_series`` (a
truth value on every bar), ``scalar`` (a number at this bar only: no history, so no indicator may
take one) and ``signal`` (an order attachment, a sizing or an exit, with a ``role`` naming which).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

NUMBER = "number_series"
BOOLEAN = "boolean_series"
SCALAR = "scalar"
SIGNAL = "signal"
KINDS = (NUMBER, BOOLEAN, SCALAR, SIGNAL)

# An output of the key's kind may feed an input of these kinds: a series read at one bar is a
# scalar, but a scalar (a position's entry price) has no history an indicator could read.
FEEDS = {NUMBER: {NUMBER, SCALAR}, SCALAR: {SCALAR}, BOOLEAN: {BOOLEAN}, SIGNAL: {SIGNAL}}


@dataclass(frozen=True)
class Port:
    """One input or output; ``role`` narrows a signal port (sizing, stop_loss, take_profit, trailing_stop)."""

    name: str
    kind: str
    required: bool = True
    role: str | None = None
    many: bool = False

    def as_input(self) -> dict:
        out = {"name": self.name, "kind": self.kind, "required": self.required}
        if self.role:
            out["role"] = self.role
        return out

    def as_output(self) -> dict:
        out = {"name": self.name, "kind": self.kind}
        if self.role:
            out["role"] = self.role
        return out

    def accepts(self, source: Port) -> bool:
        """Whether an output ``source`` may be wired into this input."""
        if self.kind not in FEEDS.get(source.kind, ()):
            return False
        return self.kind != SIGNAL or self.role == source.role


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` int, float, choice or bool, with bounds or choices and a default."""

    name: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "default": self.default}
        if self.kind in ("int", "float"):
            out["min"], out["max"] = self.min, self.max
        if self.kind == "choice":
            out["choices"] = list(self.choices)
        if self.description:
            out["description"] = self.description
        return out

    def check(self, value: object) -> tuple[Any, str | None]:
        """``(value, None)`` when ``value`` is valid for this parameter, else ``(None, why)``."""
        if self.kind == "bool":
            return (value, None) if isinstance(value, bool) else (None, "must be true or false")
        if self.kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value, None
            return None, f"must be one of {', '.join(self.choices)}"
        # bool is an int in Python; a checkbox's true is not a period of 1.
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"must be a number ({self.kind})"
        if self.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                return None, "must be a whole number"
            value = int(value)
        else:
            value = float(value)
            if value != value or value in (float("inf"), float("-inf")):
                return None, "must be a finite number"
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return None, f"must be between {self.min:g} and {self.max:g}"
        return value, None


# compute(ctx, inputs, params) -> {output name: value}; ``inputs`` maps input names to arrays
# (history phase) or to numbers at one bar (bar phase); ``ctx`` is the evaluator's bar context.
Compute = Callable[[Any, Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
# lookback(params) -> bars this node itself needs before its first valid value.
Lookback = Callable[[Mapping[str, Any]], int]


def no_lookback(_params: Mapping[str, Any]) -> int:
    return 0


@dataclass(frozen=True)
class NodeType:
    """A node type of the catalogue; ``compute`` is the one implementation the plan ever calls for it."""

    type: str
    category: str
    label: str
    description: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    params: tuple[Param, ...]
    compute: Compute | None = None
    lookback: Lookback = no_lookback
    # Compute on one bar's values (position state and everything downstream of it) as well as on arrays.
    pointwise: bool = False
    # check(params) -> [(parameter, why)]: rules between parameters (MACD's fast below its slow).
    check: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = None
    # needs(params) -> inputs the parameters make required (an ATR stop needs its ATR).
    needs: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None

    def input(self, name: str | None) -> Port | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str | None) -> Port | None:
        if name is None and len(self.outputs) == 1:
            return self.outputs[0]
        return next((p for p in self.outputs if p.name == name), None)

    def as_dict(self) -> dict:
        return {
            "type": self.type,
            "category": self.category,
            "label": self.label,
            "description": self.description,
            "inputs": [p.as_input() for p in self.inputs],
            "outputs": [p.as_output() for p in self.outputs],
            "params": [p.as_dict() for p in self.params],
        }
