"""The node catalogue: every node type a strategy graph may use, by type name."""

from __future__ import annotations

from strategies.engine.catalogue import actions, data, indicators, logic
from strategies.engine.nodes import NodeType

# The only way from a graph's "type" string to code: a lookup in this fixed table.
REGISTRY: dict[str, NodeType] = {
    node.type: node for module in (data, indicators, logic, actions) for node in module.NODES
}


def catalogue() -> list[dict]:
    """Every node type as a JSON-ready dict (type, category, label, description, inputs, outputs, params)."""
    return [node.as_dict() for node in REGISTRY.values()]
