"""Fixtures: a simulator on a free loopback port per test, and connected recording clients."""

from __future__ import annotations

import pytest

from tws_simulator import Simulator, SimulatorConfig
from tws_simulator.tests.client import Recorder, connect, disconnect


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """A quiet market (prices move only by set_price) so fills are deterministic."""
    return SimulatorConfig(
        host="127.0.0.1", port=0, accounts=["DU0000001"], seed=1, market_interval=0, account_summary_interval=0
    )


@pytest.fixture
def sim(sim_config: SimulatorConfig):
    simulator = Simulator(sim_config).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def clients(sim: Simulator):
    """A factory connecting Recorders to ``sim``; all are disconnected at teardown."""
    made: list[Recorder] = []

    def make(client_id: int = 1, **kw) -> Recorder:
        app = connect(sim.port, client_id, **kw)
        made.append(app)
        return app

    yield make
    for app in made:
        disconnect(app, timeout=1.0)


@pytest.fixture
def app(clients) -> Recorder:
    return clients(1)


@pytest.fixture
def make_sim():
    """A factory for simulators with config overrides; all are stopped at teardown."""
    made: list[Simulator] = []

    def make(**overrides) -> Simulator:
        base = {
            "host": "127.0.0.1",
            "port": 0,
            "accounts": ["DU0000001"],
            "seed": 1,
            "market_interval": 0,
            "account_summary_interval": 0,
        }
        base.update(overrides)
        simulator = Simulator(SimulatorConfig(**base)).start()
        made.append(simulator)
        return simulator

    yield make
    for simulator in made:
        simulator.stop()
