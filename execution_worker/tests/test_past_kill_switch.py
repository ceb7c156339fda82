"""The kill switch's "cancel and flatten": a closing order marked ``past_kill_switch`` goes out under the
desk-wide halt (Django's barrier and the worker's own), and is still refused by its account's halt.

The worker runs against the simulator over a socket; placeOrders are counted at the simulator.
"""

from __future__ import annotations

import json

import pytest

from execution_worker import messages as m
from execution_worker.tests.harness import ACCOUNT, orders_for, place
from tws_simulator import Simulator, SimulatorConfig


@pytest.fixture
def sim():
    simulator = Simulator(SimulatorConfig(host="127.0.0.1", port=0, accounts=[ACCOUNT], seed=1, market_interval=0))
    simulator.start()
    yield simulator
    simulator.stop()


def _barrier(bus, scope: str, reason: str) -> None:
    """What Django's engage (``*``) or account halt writes before it returns."""
    bus.client.hset(bus.names.halts, scope, json.dumps({"reason": reason, "token": "t"}))


def test_only_the_closing_order_passes_the_engaged_kill_switch(sim, bus, start_worker):
    start_worker(bus)
    _barrier(bus, "*", "market crash")
    bus.send(m.TradingHalt(mode="cancel_all", reason="market crash"))
    plain = place(quantity="5", side="SELL")
    closing = place(quantity="6", side="SELL", past_kill_switch=True)

    bus.send(plain, closing)

    assert bus.wait_event("order.rejected", client_order_id=plain.client_order_id).code == "risk.halted"
    bus.wait_event("order.status", client_order_id=closing.client_order_id, status="Filled")
    assert orders_for(sim, plain.client_order_id) == []


def test_an_accounts_own_halt_still_refuses_a_closing_order(sim, bus, start_worker):
    start_worker(bus)
    _barrier(bus, "*", "market crash")
    _barrier(bus, ACCOUNT, "account broken")
    closing = place(quantity="6", side="SELL", past_kill_switch=True)

    bus.send(closing)

    refused = bus.wait_event("order.rejected", client_order_id=closing.client_order_id)
    assert refused.code == "risk.halted" and "account broken" in refused.reason
    assert orders_for(sim, closing.client_order_id) == []
