"""The simulator's parts meet through the protocols of ``tws_simulator.ports``, not through each other's classes."""

from __future__ import annotations

import ast
from pathlib import Path

from tws_simulator import Simulator, SimulatorConfig
from tws_simulator.ports import Host

PACKAGE = Path(__file__).resolve().parent.parent


def _imported_modules(name: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_a_simulator_is_the_host_its_connections_and_controls_need():
    sim = Simulator(SimulatorConfig(port=0, market_interval=0))
    assert isinstance(sim, Host)
    assert isinstance(sim.engine.sessions, dict)


def test_connection_and_control_never_import_the_simulator_or_the_engine():
    for name in ("connection", "control", "writer", "pacing"):
        imported = _imported_modules(name)
        assert not imported & {"tws_simulator.simulator", "tws_simulator.engine"}, name


def test_the_engine_pieces_import_one_another_one_way_only():
    # order_state <- orders <- matching <- chains <- engine: the book and matching reach the chains
    # (and the book reaches matching) through the protocols they are handed.
    below = {
        "portfolio": set(),
        "order_state": set(),
        "orders": {"portfolio", "order_state"},
        "matching": {"portfolio", "order_state", "orders"},
        "chains": {"order_state", "orders"},
    }
    pieces = {"portfolio", "order_state", "orders", "matching", "chains", "engine"}
    for name, allowed in below.items():
        imported = {m.rsplit(".", 1)[-1] for m in _imported_modules(name) if m.startswith("tws_simulator.")}
        assert imported & pieces <= allowed, name
