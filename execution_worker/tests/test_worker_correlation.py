"""A command's correlation id in the worker's lines and in every event of its order, the later ones too."""

from __future__ import annotations

import json

from execution_worker import messages as m
from execution_worker.tests.harness import place, wait_until


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_the_worker_logs_a_commands_correlation_id_and_every_event_of_its_order_carries_it(sim, bus, start_worker):
    worker = start_worker(bus)
    order = place(quantity="3", cid="req-7f3a9c")
    unrelated = place(quantity="2")
    bus.send(order, unrelated)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    bus.wait_event("order.status", client_order_id=unrelated.client_order_id, status="Filled")

    events = [event for event in bus.events() if getattr(event, "client_order_id", None) == order.client_order_id]
    kinds = {type(event) for event in events}
    # The answer given while the command was handled, and what TWS's callbacks said later.
    assert {m.OrderAccepted, m.OrderStatus, m.OrderFilled} <= kinds, kinds
    assert {event.cid for event in events} == {"req-7f3a9c"}
    others = [event for event in bus.events() if getattr(event, "client_order_id", None) == unrelated.client_order_id]
    assert others and {event.cid for event in others} == {""}

    def applied() -> list[dict]:
        return [line for line in _json_lines(worker.output()) if "applied" in line["event"]]

    wait_until(lambda: len(applied()) >= 2, 5, what="the worker's lines about both commands")
    lines = applied()
    (mine,) = [line for line in lines if order.client_order_id in line["event"]]
    assert mine["correlation_id"] == "req-7f3a9c" and mine["logger"] == "execution_worker"
    assert mine["ts"].endswith("Z")
    (theirs,) = [line for line in lines if unrelated.client_order_id in line["event"]]
    assert "correlation_id" not in theirs
