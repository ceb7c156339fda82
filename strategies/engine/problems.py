"""Why a graph is refused: problems with stable codes, each naming its node and port."""

from __future__ import annotations

from dataclasses import asdict, dataclass

CODES = (
    "graph.not_json",
    "graph.too_large",
    "graph.unknown_field",
    "graph.bad_shape",
    "node.unknown_type",
    "node.bad_parameter",
    "node.duplicate_id",
    "edge.unknown_node",
    "edge.unknown_port",
    "port.missing_input",
    "port.type_mismatch",
    "port.multiple_sources",
    "graph.cycle",
    "action.unreachable",
    "action.two_sizings",
    "graph.no_action",
    "graph.warmup_too_long",
)


@dataclass(frozen=True)
class Problem:
    """One problem: ``code`` (one of ``CODES``), a sentence, the node id and the port (or parameter) it concerns."""

    code: str
    message: str
    node: str | None = None
    port: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class GraphRefused(ValueError):
    """The graph cannot be compiled; ``problems`` lists every problem found (never empty)."""

    code = "graph.refused"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))
