"""Compile a strategy graph into a Plan: validate (listing every problem), order, compute the warm-up, cache.

Nothing from the graph reaches eval, exec, import or getattr: a node's type string is looked up
in the catalogue's fixed REGISTRY, and the plan holds the catalogue's own implementations.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from types import MappingProxyType

from strategies.engine import graph_shape, ordering
from strategies.engine.catalogue import REGISTRY
from strategies.engine.catalogue.actions import ACTIONS, EXIT_ROLES
from strategies.engine.nodes import NodeType
from strategies.engine.plan import ActionStep, Plan, Step
from strategies.engine.problems import GraphRefused, Problem

CACHE_SIZE = 256
_cache: OrderedDict[str, Plan] = OrderedDict()
_cache_lock = threading.Lock()


def compile_graph(graph: object, *, history_bars: int | None = None) -> Plan:
    """The plan of ``graph`` (a React Flow graph as a dict or a JSON string), cached by its hash.

    :raises GraphRefused: the graph has problems; ``.problems`` lists every one found, including
        ``graph.warmup_too_long`` when ``history_bars`` is given and below the plan's warm-up.
    """
    shape, problems = graph_shape.read(graph)
    plan = None
    if shape is not None and not problems:
        with _cache_lock:
            plan = _cache.get(shape.hash)
            if plan is not None:
                _cache.move_to_end(shape.hash)
    if plan is None:
        plan = compile_uncached(graph, shape=shape, problems=problems)
        with _cache_lock:
            _cache[plan.hash] = plan
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    if history_bars is not None and history_bars < plan.warmup:
        raise GraphRefused(
            [
                Problem(
                    "graph.warmup_too_long",
                    f"The strategy needs {plan.warmup} bars of warm-up; only {history_bars} are available.",
                )
            ]
        )
    return plan


def cache_clear() -> None:
    """Forget every cached plan."""
    with _cache_lock:
        _cache.clear()


def compile_uncached(graph: object, *, shape=None, problems=None) -> Plan:
    """Compile ``graph`` without the cache (the benchmark measures this). Raises ``GraphRefused``."""
    if shape is None and problems is None:
        shape, problems = graph_shape.read(graph)
    problems = list(problems or [])
    if shape is None:
        raise GraphRefused(problems)
    nodes, params = _nodes(shape.nodes, problems)
    wires, tried = _edges(shape.edges, nodes, shape.ids, problems)
    _inputs(nodes, params, wires, tried, problems)
    order = ordering.topological(nodes, wires, problems)
    if not any(t.type in ACTIONS for t in nodes.values()):
        problems.append(Problem("graph.no_action", "The strategy has no buy, sell or close node."))
    if problems:
        raise GraphRefused(problems)
    return _plan(shape.hash, nodes, params, wires, order)


def _nodes(raw_nodes, problems):
    """Known nodes by id with their checked parameters; problems for duplicates, types and parameters."""
    nodes: dict[str, NodeType] = {}
    params: dict[str, dict] = {}
    seen: set[str] = set()
    for raw in raw_nodes:
        node_id = raw["id"]
        if node_id in seen:
            # The first keeps the id, so edges to it are not reported again as unknown.
            problems.append(Problem("node.duplicate_id", f"Two nodes have the id {node_id!r}.", node=node_id))
            continue
        seen.add(node_id)
        node_type = REGISTRY.get(raw["type"])
        if node_type is None:
            problems.append(
                Problem("node.unknown_type", f"Node {node_id}: unknown type {raw['type']!r}.", node=node_id)
            )
            continue
        given = raw.get("data", {}).get("params", {})
        checked, ok = {}, True
        known = {p.name: p for p in node_type.params}
        for name in given:
            if name not in known:
                problems.append(
                    Problem("graph.unknown_field", f"{node_type.label} has no parameter {name!r}.", node_id, name)
                )
                ok = False
        for param in node_type.params:
            value, why = param.check(given[param.name]) if param.name in given else (param.default, None)
            if why:
                problems.append(
                    Problem("node.bad_parameter", f"{node_type.label} {param.name} {why}.", node_id, param.name)
                )
                ok = False
            checked[param.name] = value
        if ok and node_type.check:
            for name, why in node_type.check(checked):
                problems.append(Problem("node.bad_parameter", f"{node_type.label} {name} {why}.", node_id, name))
        nodes[node_id] = node_type
        params[node_id] = checked
    return nodes, params


def _edges(raw_edges, nodes, ids, problems):
    """Valid wires as {(target, input): [(source, output), ...]} and the inputs an edge tried to reach.

    Problems for unknown nodes, ports and kinds; an edge touching a node already refused (unknown
    type, bad shape) is left out without a second problem.
    """
    wires: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    tried: set[tuple[str, str]] = set()
    for edge in raw_edges:
        source, target = edge["source"], edge["target"]
        known = True
        for node_id, handle in ((source, edge.get("sourceHandle")), (target, edge.get("targetHandle"))):
            if node_id not in ids:
                problems.append(
                    Problem("edge.unknown_node", f"An edge joins unknown node {node_id!r}.", node_id, handle)
                )
            known = known and node_id in nodes
        if not known:
            if target in nodes:
                tried.add((target, edge.get("targetHandle")))
            continue
        out_port = nodes[source].output(edge.get("sourceHandle"))
        in_port = nodes[target].input(edge.get("targetHandle"))
        if out_port is None:
            problems.append(
                Problem(
                    "edge.unknown_port",
                    f"{nodes[source].label} has no output {edge.get('sourceHandle')!r}.",
                    source,
                    edge.get("sourceHandle"),
                )
            )
        if in_port is None:
            problems.append(
                Problem(
                    "edge.unknown_port",
                    f"{nodes[target].label} has no input {edge.get('targetHandle')!r}.",
                    target,
                    edge.get("targetHandle"),
                )
            )
        if out_port is None or in_port is None:
            continue
        tried.add((target, in_port.name))
        if not in_port.accepts(out_port):
            what = f"{out_port.kind}{f' ({out_port.role})' if out_port.role else ''}"
            want = f"{in_port.kind}{f' ({in_port.role})' if in_port.role else ''}"
            problems.append(
                Problem(
                    "port.type_mismatch",
                    f"{nodes[target].label} input {in_port.name} takes {want}, not {what}.",
                    target,
                    in_port.name,
                )
            )
            continue
        wires[(target, in_port.name)].append((source, out_port.name))
    return wires, tried


def _inputs(nodes, params, wires, tried, problems):
    """Problems for inputs wired twice, required inputs left open, actions no signal reaches, sizing rules.

    An input whose edge was refused (a type mismatch) is not reported again as missing.
    """
    for node_id, node_type in nodes.items():
        needed = set(node_type.needs(params[node_id])) if node_type.needs else set()
        for port in node_type.inputs:
            sources = wires.get((node_id, port.name), [])
            if len(sources) > 1 and port.role == "sizing":
                problems.append(
                    Problem(
                        "action.two_sizings",
                        f"{node_type.label} {node_id} has {len(sources)} sizings; give it one.",
                        node_id,
                        port.name,
                    )
                )
            elif len(sources) > 1:
                problems.append(
                    Problem(
                        "port.multiple_sources",
                        f"{node_type.label} input {port.name} is wired {len(sources)} times.",
                        node_id,
                        port.name,
                    )
                )
            elif not sources and (node_id, port.name) in tried:
                continue
            elif not sources and node_type.type in ACTIONS and port.name == "when":
                problems.append(
                    Problem(
                        "action.unreachable",
                        f"No signal reaches {node_type.label} {node_id}: wire its 'when'.",
                        node_id,
                        "when",
                    )
                )
            elif not sources and (port.required or port.name in needed):
                problems.append(
                    Problem("port.missing_input", f"{node_type.label} needs its input {port.name}.", node_id, port.name)
                )
        sizing = wires.get((node_id, "sizing"), [])
        if (
            len(sizing) == 1
            and nodes.get(sizing[0][0]) is REGISTRY["risk_per_trade"]
            and not wires.get((node_id, "stop_loss"))
        ):
            problems.append(
                Problem(
                    "port.missing_input",
                    f"Risk-per-trade sizing needs a stop-loss on {node_type.label} {node_id}.",
                    node_id,
                    "stop_loss",
                )
            )


def _plan(graph_hash, nodes, params, wires, order) -> Plan:
    needed = ordering.ancestors([n for n in order if nodes[n].type in ACTIONS], wires)
    downstream_of_position = ordering.descendants([n for n in order if nodes[n].type == "position"], wires)
    warmup: dict[str, int] = {}
    steps: dict[str, Step] = {}
    for node_id in order:
        node_type = nodes[node_id]
        inputs = tuple(
            (port, wires[(node_id, port)][0])
            for port in (p.name for p in node_type.inputs)
            if wires.get((node_id, port))
        )
        warmup[node_id] = node_type.lookback(params[node_id]) + max((warmup[src] for _, (src, _o) in inputs), default=0)
        if node_type.compute is not None:
            steps[node_id] = Step(
                node_id, node_type, MappingProxyType(params[node_id]), inputs, node_id in downstream_of_position
            )
    attached = {
        src
        for (target, port), srcs in wires.items()
        if port == "sizing" or port in EXIT_ROLES
        for src, _ in srcs
        if nodes[target].type in ACTIONS
    }
    actions = []
    for node_id in order:
        if nodes[node_id].type not in ACTIONS:
            continue
        sizing = wires.get((node_id, "sizing"))
        exits = tuple((role, steps[wires[(node_id, role)][0][0]]) for role in EXIT_ROLES if wires.get((node_id, role)))
        actions.append(
            ActionStep(
                node_id,
                nodes[node_id].type,
                wires[(node_id, "when")][0],
                steps[sizing[0][0]] if sizing else None,
                exits,
            )
        )
    # Exits before entries on one bar; among equals, the graph's order.
    actions.sort(key=lambda a: a.action != "close")
    ordered = tuple(steps[n] for n in order if n in steps and n in needed and n not in attached)
    return Plan(
        hash=graph_hash,
        steps=tuple(s for s in ordered if not s.bar_phase) + tuple(s for s in ordered if s.bar_phase),
        actions=tuple(actions),
        warmup=max((warmup[n] for n in needed), default=0),
        uses_position=bool(downstream_of_position & needed),
        position_nodes=tuple(n for n in order if nodes[n].type == "position" and n in needed),
        node_count=len(nodes),
    )
