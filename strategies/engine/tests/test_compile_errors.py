"""Every compile error code: each refusal names its code, node and port, and every problem is listed."""

from __future__ import annotations

import json

import pytest

from strategies.engine import CODES, GraphRefused, compile_graph
from strategies.engine.graph_shape import MAX_NODES
from strategies.engine.tests.helpers import edge, graph, node


def crossing(**changes) -> dict:
    """A valid graph: buy when the close crosses over its SMA."""
    nodes = [node("bar", "bar"), node("sma", "sma", period=20), node("up", "crossover"), node("buy", "buy")]
    edges = [
        edge("bar", "close", "sma", "series"),
        edge("bar", "close", "up", "a"),
        edge("sma", "value", "up", "b"),
        edge("up", "result", "buy", "when"),
    ]
    return graph(
        changes.get("nodes", nodes) + changes.get("more_nodes", []),
        changes.get("edges", edges) + changes.get("more_edges", []),
    )


def refused(g, **kwargs) -> list[tuple[str, str | None, str | None]]:
    with pytest.raises(GraphRefused) as caught:
        compile_graph(g, **kwargs)
    assert caught.value.problems, "a refusal lists at least one problem"
    return [(p.code, p.node, p.port) for p in caught.value.problems]


def test_the_base_graph_compiles():
    assert compile_graph(crossing()).warmup == 20  # SMA(20) needs 19 bars, the crossing one more


CASES = {
    "graph.not_json": ("{nodes: [", [("graph.not_json", None, None)]),
    "graph.too_large": (
        graph([node(f"n{i}", "constant") for i in range(MAX_NODES + 1)], []),
        [("graph.too_large", None, None)],
    ),
    "graph.unknown_field": (
        {**crossing(), "script": "print(1)"},
        [("graph.unknown_field", None, None)],
    ),
    "graph.bad_shape": ({"nodes": {"bar": {}}, "edges": []}, [("graph.bad_shape", None, None)]),
    "node.unknown_type": (
        crossing(more_nodes=[node("evil", "__import__")]),
        [("node.unknown_type", "evil", None)],
    ),
    "node.bad_parameter": (
        crossing(nodes=[node("bar", "bar"), node("sma", "sma", period=0), node("up", "crossover"), node("buy", "buy")]),
        [("node.bad_parameter", "sma", "period")],
    ),
    "node.duplicate_id": (
        crossing(more_nodes=[node("up", "constant")]),
        [("node.duplicate_id", "up", None)],
    ),
    "edge.unknown_node": (
        crossing(more_edges=[edge("ghost", "value", "buy", "sizing")]),
        [("edge.unknown_node", "ghost", "value")],
    ),
    "edge.unknown_port": (
        crossing(edges=[*crossing()["edges"][:3], edge("up", "result", "buy", "trigger")]),
        [("edge.unknown_port", "buy", "trigger"), ("action.unreachable", "buy", "when")],
    ),
    "port.missing_input": (
        crossing(edges=[e for e in crossing()["edges"] if e["targetHandle"] != "b"]),
        [("port.missing_input", "up", "b")],
    ),
    "port.type_mismatch": (
        crossing(
            more_nodes=[node("rsi", "rsi"), node("sell", "sell")],
            more_edges=[edge("bar", "close", "rsi", "series"), edge("rsi", "value", "sell", "when")],
        ),
        [("port.type_mismatch", "sell", "when")],
    ),
    "port.multiple_sources": (
        crossing(more_edges=[edge("bar", "open", "sma", "series")]),
        [("port.multiple_sources", "sma", "series")],
    ),
    "graph.cycle": (
        crossing(
            more_nodes=[node("a", "ema"), node("b", "wma"), node("c", "sma")],
            more_edges=[
                edge("a", "value", "b", "series"),
                edge("b", "value", "a", "series"),
                edge("b", "value", "c", "series"),
            ],
        ),
        [("graph.cycle", "a", None), ("graph.cycle", "b", None)],
    ),
    "action.unreachable": (
        crossing(more_nodes=[node("close", "close")]),
        [("action.unreachable", "close", "when")],
    ),
    "action.two_sizings": (
        crossing(
            more_nodes=[node("q", "fixed_quantity"), node("p", "percent_of_equity")],
            more_edges=[edge("q", "sizing", "buy", "sizing"), edge("p", "sizing", "buy", "sizing")],
        ),
        [("action.two_sizings", "buy", "sizing")],
    ),
    "graph.no_action": (
        graph([node("bar", "bar"), node("sma", "sma")], [edge("bar", "close", "sma", "series")]),
        [("graph.no_action", None, None)],
    ),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_each_refusal_names_its_code_node_and_port(code):
    g, expected = CASES[code]
    assert refused(g) == expected


def test_every_code_of_the_contract_has_a_case_here():
    assert set(CASES) | {"graph.warmup_too_long"} == set(CODES)


def test_a_warm_up_longer_than_the_history_is_refused():
    assert refused(crossing(), history_bars=19) == [("graph.warmup_too_long", None, None)]
    assert compile_graph(crossing(), history_bars=20).warmup == 20


def test_every_problem_is_listed_not_only_the_first():
    g = crossing(
        nodes=[
            node("bar", "bar"),
            node("sma", "sma", period=9999, colour="red"),
            node("up", "crossover"),
            node("buy", "buy"),
        ],
        more_nodes=[node("x", "no_such_node")],
        more_edges=[edge("up", "result", "nowhere", "when")],
    )
    assert sorted(refused(g)) == sorted(
        [
            ("graph.unknown_field", "sma", "colour"),
            ("node.bad_parameter", "sma", "period"),
            ("node.unknown_type", "x", None),
            ("edge.unknown_node", "nowhere", "when"),
        ]
    )


def test_edges_of_a_refused_node_are_not_reported_again():
    g = crossing(nodes=[node("bar", "bar"), node("sma", "smaa"), node("up", "crossover"), node("buy", "buy")])
    g["nodes"][0]["position"] = "top left"
    assert refused(g) == [("graph.bad_shape", "bar", None), ("node.unknown_type", "sma", None)]


def test_a_graph_of_more_than_64_kb_is_refused_before_it_is_parsed():
    text = json.dumps(crossing() | {"viewport": {"x": 0, "y": 0, "zoom": 1}}) + " " * (64 * 1024)
    assert refused(text) == [("graph.too_large", None, None)]


def test_json_nested_too_deep_for_the_parser_is_not_json():
    assert refused("[" * 60_000) == [("graph.not_json", None, None)]


def test_the_viewport_holds_only_its_numbers():
    assert refused({**crossing(), "viewport": {"x": 0, "y": 0, "zoom": 1, "theme": 2}}) == [
        ("graph.unknown_field", None, None)
    ]
    assert refused({**crossing(), "viewport": {"x": "left"}}) == [("graph.bad_shape", None, None)]


def test_too_many_edges_are_refused():
    edges = [edge("bar", "close", "sma", "series")] * 401
    assert refused(crossing(edges=edges)) == [("graph.too_large", None, None)]


@pytest.mark.parametrize(
    ("value", "why"),
    [("20", "number"), (True, "number"), (20.5, "whole"), (501, "between"), (float("nan"), "number")],
)
def test_a_parameter_of_the_wrong_type_or_out_of_bounds_is_refused(value, why):
    g = crossing(
        nodes=[node("bar", "bar"), node("sma", "sma", period=value), node("up", "crossover"), node("buy", "buy")]
    )
    if value != value:  # NaN is not JSON at all
        assert refused(g) == [("graph.not_json", None, None)]
        return
    with pytest.raises(GraphRefused) as caught:
        compile_graph(g)
    (problem,) = caught.value.problems
    assert (problem.code, problem.node, problem.port) == ("node.bad_parameter", "sma", "period")
    assert why in problem.message


def test_a_choice_outside_its_choices_is_refused():
    g = crossing(
        more_nodes=[node("cmp", "compare", operator="__class__")],
        more_edges=[edge("bar", "close", "cmp", "a"), edge("sma", "value", "cmp", "b")],
    )
    assert refused(g) == [("node.bad_parameter", "cmp", "operator")]


def test_macd_with_its_fast_period_not_below_its_slow_is_refused():
    g = crossing(more_nodes=[node("m", "macd", fast=30, slow=26)], more_edges=[edge("bar", "close", "m", "series")])
    assert refused(g) == [("node.bad_parameter", "m", "fast")]


def test_an_atr_stop_without_its_atr_is_missing_an_input():
    g = crossing(
        more_nodes=[node("stop", "stop_loss", mode="atr")], more_edges=[edge("stop", "exit", "buy", "stop_loss")]
    )
    assert refused(g) == [("port.missing_input", "stop", "atr")]


def test_risk_per_trade_sizing_without_a_stop_loss_is_missing_an_input():
    g = crossing(more_nodes=[node("risk", "risk_per_trade")], more_edges=[edge("risk", "sizing", "buy", "sizing")])
    assert refused(g) == [("port.missing_input", "buy", "stop_loss")]


def test_a_stop_wired_into_a_sizing_port_is_a_type_mismatch():
    g = crossing(more_nodes=[node("stop", "stop_loss")], more_edges=[edge("stop", "exit", "buy", "sizing")])
    assert refused(g) == [("port.type_mismatch", "buy", "sizing")]


def test_the_position_has_no_history_an_indicator_could_read():
    g = crossing(
        more_nodes=[node("pos", "position"), node("avg", "sma")],
        more_edges=[edge("pos", "entry_price", "avg", "series")],
    )
    assert refused(g) == [("port.type_mismatch", "avg", "series")]


def test_unknown_fields_are_refused_at_every_level():
    g = crossing()
    g["nodes"][0]["onClick"] = "alert(1)"
    g["nodes"][1]["data"]["code"] = "import os"
    g["nodes"][2]["position"]["z"] = 1
    g["edges"][0]["exec"] = "x"
    assert sorted(refused(g), key=str) == sorted(
        [
            ("graph.unknown_field", "bar", None),
            ("graph.unknown_field", "sma", None),
            ("graph.unknown_field", "up", None),
            ("graph.unknown_field", None, None),
        ],
        key=str,
    )


def test_a_cycle_names_only_the_nodes_on_it_with_the_path():
    with pytest.raises(GraphRefused) as caught:
        compile_graph(CASES["graph.cycle"][0])
    assert all("a → b → a" in p.message for p in caught.value.problems)
