"""The executable plan a graph compiles to: known node implementations bound to their inputs, in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from strategies.engine.nodes import NodeType

# (source node id, source port name): where an input's value comes from.
Source = tuple[str, str]


@dataclass(frozen=True)
class Step:
    """One node to compute: its catalogue type, checked parameters, and a source for each wired input."""

    node: str
    node_type: NodeType
    params: Mapping[str, Any]
    inputs: tuple[tuple[str, Source], ...]
    # Downstream of the position: computed on each bar's values, after the position is known.
    bar_phase: bool = False


@dataclass(frozen=True)
class ActionStep:
    """One action node: buy, sell or close, its trigger and the steps giving its sizing and exits."""

    node: str
    action: str
    when: Source
    sizing: Step | None = None
    exits: tuple[tuple[str, Step], ...] = ()


@dataclass(frozen=True)
class Plan:
    """A compiled strategy: ``steps`` in topological order, ``actions`` in firing precedence.

    ``warmup`` is the number of bars the strategy needs before its first decision; ``hash`` the
    sha256 of the graph's canonical JSON (sorted keys, no spaces).
    """

    hash: str
    steps: tuple[Step, ...]
    actions: tuple[ActionStep, ...]
    warmup: int
    uses_position: bool
    position_nodes: tuple[str, ...]
    node_count: int
    series_steps: tuple[Step, ...] = field(init=False, repr=False, compare=False)
    bar_steps: tuple[Step, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The two phases, split once: the evaluator reads them on every bar.
        object.__setattr__(self, "series_steps", tuple(s for s in self.steps if not s.bar_phase))
        object.__setattr__(self, "bar_steps", tuple(s for s in self.steps if s.bar_phase))

    @cached_property
    def deciding_nodes(self) -> Mapping[str, tuple[str, ...]]:
        """For each action node, the nodes whose values decide it, in plan order (position nodes first).

        Those are its trigger and every node above it, and the nodes feeding its sizing and exits
        (an ATR); the sizing and exit nodes themselves are read with the decision. Worked out on
        first use: only a decision reads it, and decisions are rare.
        """
        inputs = {step.node: step.inputs for step in self.steps}
        order = (*self.position_nodes, *(step.node for step in self.steps))
        out: dict[str, tuple[str, ...]] = {}
        for action in self.actions:
            attached = [step for step in (action.sizing, *(s for _r, s in action.exits)) if step is not None]
            todo = [action.when[0], *(source for step in attached for _port, (source, _out) in step.inputs)]
            seen: set[str] = set()
            while todo:
                node = todo.pop()
                if node not in seen:
                    seen.add(node)
                    todo.extend(source for _port, (source, _out) in inputs.get(node, ()))
            out[action.node] = tuple(node for node in order if node in seen)
        return MappingProxyType(out)
