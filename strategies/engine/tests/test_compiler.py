"""What a compiled plan holds: order, warm-up, hash, cache, and nothing of the graph run as code."""

from __future__ import annotations

import hashlib
import json
from dataclasses import FrozenInstanceError

import pytest

from strategies.engine import GraphRefused, Plan, cache_clear, compile_graph
from strategies.engine.catalogue import REGISTRY
from strategies.engine.tests.helpers import edge, graph, node, template


def test_the_plan_orders_steps_topologically_and_keeps_only_what_reaches_an_action():
    g = template("ema_crossover")
    g["nodes"].append(node("unused", "rsi"))
    g["edges"].append(edge("bar", "close", "unused", "series"))
    plan = compile_graph(g)
    order = [s.node for s in plan.steps]
    assert "unused" not in order
    for step in plan.steps:
        for _port, (source, _out) in step.inputs:
            assert order.index(source) < order.index(step.node)
    assert [a.node for a in plan.actions] == ["close", "buy"], "exits take precedence"
    assert all(step.node_type is REGISTRY[step.node_type.type] for step in plan.steps)


def test_the_hash_is_the_sha256_of_the_canonical_json_and_a_string_compiles_as_its_dict():
    g = template("rsi_mean_reversion")
    expected = hashlib.sha256(json.dumps(g, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert compile_graph(g).hash == expected
    assert compile_graph(json.dumps(g, indent=4)).hash == expected


def test_plans_are_cached_by_hash():
    cache_clear()
    g = template("bollinger_breakout")
    first = compile_graph(g)
    assert isinstance(first, Plan)
    assert compile_graph(json.dumps(g)) is first
    cache_clear()
    assert compile_graph(g) is not first


def test_react_flows_own_view_fields_are_known_and_ignored():
    g = template("ema_crossover")
    g["viewport"] = {"x": 10, "y": 20, "zoom": 1.5}
    g["nodes"][0].update(width=150, height=40, selected=True, dragging=False, positionAbsolute={"x": 0, "y": 0})
    g["nodes"][0]["data"]["label"] = "Bar"
    g["edges"][0].update(animated=True, type="smoothstep")
    assert compile_graph(g).warmup == compile_graph(template("ema_crossover")).warmup


def test_a_type_or_parameter_naming_python_is_data_never_code():
    g = graph(
        [
            node("x", "os.system", cmd="rm -rf /"),
            node("y", "__builtins__"),
            node("c", "compare", operator="__import__('os')"),
        ],
        [],
    )
    with pytest.raises(GraphRefused) as refused:
        compile_graph(g)
    assert sorted((p.code, p.node, p.port) for p in refused.value.problems) == [
        ("graph.no_action", None, None),
        ("node.bad_parameter", "c", "operator"),
        ("node.unknown_type", "x", None),
        ("node.unknown_type", "y", None),
        ("port.missing_input", "c", "a"),
        ("port.missing_input", "c", "b"),
    ]


def test_the_plan_is_frozen():
    plan = compile_graph(template("ema_crossover"))
    with pytest.raises(FrozenInstanceError):
        plan.warmup = 0  # type: ignore[misc]
