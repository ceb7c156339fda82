"""A graph's outer shape as React Flow writes it: JSON, size limits, known fields and their types.

React Flow adds view fields of its own to nodes and edges (size, selection, styling); they are
known fields, accepted and ignored. Anything else is an unknown field, refused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from strategies.engine.problems import Problem

MAX_NODES = 200
MAX_EDGES = 400
MAX_BYTES = 64 * 1024
MAX_ID = 100

GRAPH_FIELDS = {"nodes", "edges", "viewport"}
VIEWPORT_FIELDS = {"x", "y", "zoom"}
NODE_FIELDS = {"id", "type", "data", "position"}
NODE_VIEW_FIELDS = {"width", "height", "measured", "selected", "dragging", "positionAbsolute", "zIndex", "hidden"}
DATA_FIELDS = {"params", "label"}
POSITION_FIELDS = {"x", "y"}
EDGE_FIELDS = {"id", "source", "sourceHandle", "target", "targetHandle"}
EDGE_VIEW_FIELDS = {"type", "animated", "selected", "label", "style", "markerEnd", "zIndex", "hidden"}


@dataclass(frozen=True)
class Shape:
    """A graph that passed the shape checks: its nodes and edges as plain dicts, and its hash."""

    nodes: list[dict]
    edges: list[dict]
    hash: str
    # Every node id given, including nodes refused for their shape, so an edge to one of them is
    # not reported a second time as an edge to an unknown node.
    ids: frozenset[str] = frozenset()


def canonical(graph: object) -> str:
    return json.dumps(graph, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def read(graph: object) -> tuple[Shape | None, list[Problem]]:
    """The graph's shape, or None with every shape problem found."""
    if isinstance(graph, bytes | bytearray):
        graph = graph.decode("utf-8", errors="replace")
    if isinstance(graph, str):
        if len(graph.encode()) > MAX_BYTES:
            return None, [Problem("graph.too_large", f"The graph is over {MAX_BYTES // 1024} KB of JSON.")]
        try:
            graph = json.loads(graph)
        except (ValueError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than the parser's stack, e.g. 64 KB of "[".
            return None, [Problem("graph.not_json", f"The graph is not JSON: {str(exc)[:200]}.")]
    try:
        text = canonical(graph)
    except (TypeError, ValueError, RecursionError) as exc:
        return None, [Problem("graph.not_json", f"The graph is not JSON data: {str(exc)[:200]}.")]
    if len(text.encode()) > MAX_BYTES:
        return None, [Problem("graph.too_large", f"The graph is over {MAX_BYTES // 1024} KB of JSON.")]
    if not isinstance(graph, dict):
        return None, [Problem("graph.bad_shape", "The graph must be an object with nodes and edges.")]
    problems = _unknown(graph, GRAPH_FIELDS, "graph")
    viewport = graph.get("viewport", {})
    if not isinstance(viewport, dict) or not all(_number(v) for v in viewport.values()):
        problems.append(Problem("graph.bad_shape", "viewport must be {x, y, zoom} numbers."))
    else:
        problems.extend(_unknown(viewport, VIEWPORT_FIELDS, "the viewport"))
    nodes, edges = graph.get("nodes"), graph.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        return None, [*problems, Problem("graph.bad_shape", "nodes and edges must be lists.")]
    if len(nodes) > MAX_NODES or len(edges) > MAX_EDGES:
        return None, [
            *problems,
            Problem(
                "graph.too_large",
                f"The graph has {len(nodes)} nodes and {len(edges)} edges; at most {MAX_NODES} and {MAX_EDGES}.",
            ),
        ]
    good_nodes = [n for n in nodes if _node_ok(n, problems)]
    good_edges = [e for e in edges if _edge_ok(e, problems)]
    ids = frozenset(n["id"] for n in nodes if isinstance(n, dict) and _is_id(n.get("id")))
    shape = Shape(good_nodes, good_edges, hashlib.sha256(text.encode()).hexdigest(), ids)
    return shape, problems


def _unknown(obj: dict, known: set[str], where: str, node: str | None = None) -> list[Problem]:
    return [
        Problem("graph.unknown_field", f"Unknown field {key!r} in {where}.", node=node, port=None)
        for key in obj
        if key not in known
    ]


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


def _node_ok(node: object, problems: list[Problem]) -> bool:
    if not isinstance(node, dict) or not _is_id(node.get("id")):
        problems.append(Problem("graph.bad_shape", f"A node must be an object with a string id: {str(node)[:80]}."))
        return False
    node_id = node["id"]
    problems.extend(_unknown(node, NODE_FIELDS | NODE_VIEW_FIELDS, f"node {node_id}", node_id))
    ok = True
    if not isinstance(node.get("type"), str):
        problems.append(Problem("graph.bad_shape", f"Node {node_id} has no type.", node=node_id))
        ok = False
    data = node.get("data", {})
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("params", {}), dict)
        or not isinstance(data.get("label", ""), str)
    ):
        problems.append(
            Problem(
                "graph.bad_shape", f"Node {node_id}: data must hold params (an object), label (text).", node=node_id
            )
        )
        ok = False
    else:
        problems.extend(_unknown(data, DATA_FIELDS, f"the data of node {node_id}", node_id))
    position = node.get("position", {"x": 0, "y": 0})
    numbers = isinstance(position, dict) and all(_number(position.get(k)) for k in POSITION_FIELDS)
    if not numbers:
        problems.append(Problem("graph.bad_shape", f"Node {node_id}: position must be {{x, y}} numbers.", node=node_id))
        ok = False
    else:
        problems.extend(_unknown(position, POSITION_FIELDS, f"the position of node {node_id}", node_id))
    return ok


def _edge_ok(edge: object, problems: list[Problem]) -> bool:
    if not isinstance(edge, dict):
        problems.append(Problem("graph.bad_shape", f"An edge must be an object: {str(edge)[:80]}."))
        return False
    problems.extend(_unknown(edge, EDGE_FIELDS | EDGE_VIEW_FIELDS, f"edge {edge.get('id')!s:.40}"))
    handles_ok = all(edge.get(k) is None or isinstance(edge.get(k), str) for k in ("sourceHandle", "targetHandle"))
    if not (_is_id(edge.get("source")) and _is_id(edge.get("target")) and handles_ok):
        problems.append(
            Problem("graph.bad_shape", f"Edge {edge.get('id')!s:.40} needs string source and target (and handles).")
        )
        return False
    return True
