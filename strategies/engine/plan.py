"""The executable plan a graph compiles to: known node implementations bound to their inputs, in order."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
