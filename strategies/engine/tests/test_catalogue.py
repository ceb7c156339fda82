"""The catalogue's shape: every type well-formed, JSON-ready, and the kinds the contract names."""

from __future__ import annotations

import json

import pytest

from strategies.engine import catalogue
from strategies.engine.catalogue import REGISTRY
from strategies.engine.nodes import KINDS

EXPECTED_TYPES = {
    "bar", "constant", "session", "time_of_day",
    "sma", "ema", "wma", "rsi", "macd", "bollinger", "atr", "stochastic", "vwap", "highest", "lowest", "roc",
    "compare", "crossover", "crossunder", "and", "or", "not", "range",
    "position", "buy", "sell", "close", "stop_loss", "take_profit", "trailing_stop",
    "fixed_quantity", "percent_of_equity", "risk_per_trade",
}  # fmt: skip


def test_the_catalogue_has_every_node_the_issue_names():
    types = [entry["type"] for entry in catalogue()]
    assert len(types) == len(set(types)) >= 25
    assert set(types) == EXPECTED_TYPES


def test_the_catalogue_is_json_serialisable_and_round_trips():
    assert json.loads(json.dumps(catalogue())) == catalogue()


@pytest.mark.parametrize("entry", catalogue(), ids=lambda e: e["type"])
def test_every_type_has_well_formed_ports_and_parameters(entry):
    assert set(entry) == {"type", "category", "label", "description", "inputs", "outputs", "params"}
    assert entry["category"] in {"data", "indicator", "logic", "position", "action", "risk", "sizing"}
    assert entry["label"] and entry["description"].endswith(".")
    for group in ("inputs", "outputs"):
        names = [port["name"] for port in entry[group]]
        assert len(names) == len(set(names)), f"{entry['type']} repeats a port name"
        for port in entry[group]:
            assert port["kind"] in KINDS
            assert ("role" in port) == (port["kind"] == "signal")
            assert group == "outputs" or isinstance(port["required"], bool)
    for param in entry["params"]:
        spec = next(p for p in REGISTRY[entry["type"]].params if p.name == param["name"])
        assert param["kind"] in {"int", "float", "choice", "bool"}
        assert spec.check(param["default"]) == (param["default"], None), "the default must be a valid value"
        if param["kind"] in {"int", "float"}:
            assert param["min"] <= param["default"] <= param["max"]
            assert spec.check(param["max"] + 1)[1] and spec.check(param["min"] - 1)[1], "bounds are enforced"
        if param["kind"] == "choice":
            assert param["default"] in param["choices"]


def test_every_action_has_a_when_and_every_non_action_an_output():
    for entry in catalogue():
        if entry["category"] == "action":
            assert entry["inputs"][0] == {"name": "when", "kind": "boolean_series", "required": True}
            assert entry["outputs"] == []
        else:
            assert entry["outputs"], entry["type"]


def test_every_computed_type_has_an_implementation_in_the_registry():
    interpreted = {"position", "buy", "sell", "close"}
    for node_type in REGISTRY.values():
        assert (node_type.compute is None) == (node_type.type in interpreted), node_type.type
