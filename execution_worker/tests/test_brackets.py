"""Brackets and OCA groups at the broker: the worker process against the simulator over a socket.

A bracket (``order.place`` with ``children``) reaches TWS as IB's chain: parent ``transmit=False``,
children with ``parentId``, the last child ``transmit=True``. Children do not work until the parent
fills, a child's fill cancels its sibling, cancelling the parent cancels the children, and a worker
killed between the sends leaves nothing working and the bracket refused.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from execution_worker import messages as m
from execution_worker.tests.harness import Bus, check_ledger, orders_for, place, wait_until


def bracket(quantity: str = "10", entry: str = "100", take: str = "120", stop: str = "90") -> m.OrderPlace:
    """BUY at a limit under the market (it rests), take-profit above, stop-loss below."""
    return place(
        quantity=quantity,
        order_type="LMT",
        limit_price=Decimal(entry),
        children=(
            {
                "client_order_id": str(uuid.uuid4()),
                "side": "SELL",
                "quantity": Decimal(quantity),
                "order_type": "LMT",
                "limit_price": Decimal(take),
            },
            {
                "client_order_id": str(uuid.uuid4()),
                "side": "SELL",
                "quantity": Decimal(quantity),
                "order_type": "STP",
                "stop_price": Decimal(stop),
            },
        ),
    )


def ids(order: m.OrderPlace) -> tuple[str, str, str]:
    return order.client_order_id, order.children[0]["client_order_id"], order.children[1]["client_order_id"]


def sim_order(sim, coid: str) -> dict | None:
    found = [o for o in sim.control.state()["orders"] if o.get("order_ref") == coid]
    return found[0] if found else None


def statuses(bus: Bus, coid: str) -> list[str]:
    return [e.status for e in bus.events("order.status") if e.client_order_id == coid]


def test_a_bracket_is_sent_as_one_chain_and_its_children_wait_for_the_parent(sim, bus, start_worker):
    start_worker(bus)
    order = bracket()
    parent, take, stop = ids(order)
    bus.send(order)
    for coid in (parent, take, stop):
        bus.wait_event("order.accepted", client_order_id=coid)
    bus.wait_event("order.status", client_order_id=parent, status="Submitted")
    # At TWS: the children name the parent's orderId, and only the last was sent with transmit=True.
    at_tws = {coid: sim_order(sim, coid) for coid in (parent, take, stop)}
    assert at_tws[take]["parent_id"] == at_tws[stop]["parent_id"] == at_tws[parent]["order_id"]
    ledger = [p for p in sim.ledger.snapshot()["place_orders"] if p["order_ref"] in (parent, take, stop)]
    assert [p["order_ref"] for p in ledger] == [parent, take, stop]
    # Children inactive until the parent fills: PreSubmitted, never Submitted, no fill even if touched.
    sim.control.set_price("AAPL", 125.0)
    wait_until(lambda: "PreSubmitted" in statuses(bus, take), 5, what="the take-profit PreSubmitted")
    assert "Submitted" not in statuses(bus, take) and "Submitted" not in statuses(bus, stop)
    assert not sim.ledger.snapshot()["executions"]
    # The parent fills: both children go to work; the take-profit fills and TWS cancels the stop-loss.
    sim.control.set_price("AAPL", 99.0)
    bus.wait_event("order.status", client_order_id=parent, status="Filled")
    bus.wait_event("order.status", client_order_id=stop, status="Submitted")
    sim.control.set_price("AAPL", 121.0)
    bus.wait_event("order.status", client_order_id=take, status="Filled")
    bus.wait_event("order.status", client_order_id=stop, status="Cancelled")
    assert [x["order_ref"] for x in sim.ledger.snapshot()["executions"]] == [parent, take]
    check_ledger(sim, bus)


def test_the_stop_loss_filling_cancels_the_take_profit(sim, bus, start_worker):
    start_worker(bus)
    order = bracket(entry="190.5", take="200", stop="185")
    parent, take, stop = ids(order)
    sim.control.set_price("AAPL", 191.0)
    bus.send(order)
    bus.wait_event("order.status", client_order_id=stop, status="PreSubmitted")
    sim.control.set_price("AAPL", 190.0)
    bus.wait_event("order.status", client_order_id=parent, status="Filled")
    sim.control.set_price("AAPL", 184.0)
    bus.wait_event("order.status", client_order_id=stop, status="Filled")
    bus.wait_event("order.status", client_order_id=take, status="Cancelled")
    check_ledger(sim, bus)


def test_cancelling_the_parent_cancels_the_children(sim, bus, start_worker):
    start_worker(bus)
    order = bracket()
    parent, take, stop = ids(order)
    bus.send(order)
    bus.wait_event("order.status", client_order_id=stop, status="PreSubmitted")
    bus.send(m.OrderCancel(client_order_id=parent))
    for coid in (parent, take, stop):
        bus.wait_event("order.status", client_order_id=coid, status="Cancelled")
    assert not sim.ledger.snapshot()["executions"]
    check_ledger(sim, bus)


def test_a_bracket_the_gate_refuses_is_refused_whole_and_nothing_is_sent(sim, bus, start_worker):
    bus.set_limits(max_order_quantity=100_000, max_order_notional=1500)
    start_worker(bus)
    order = bracket(quantity="10", entry="100", take="120", stop="90")  # the take-profit is 1200, ok
    big = bracket(quantity="14", entry="100", take="120", stop="90")  # the take-profit is 1680
    bus.send(order, big)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    for coid in ids(big):
        assert bus.wait_event("order.rejected", client_order_id=coid).code == "risk.max_notional"
    assert not any(orders_for(sim, coid) for coid in ids(big))
    check_ledger(sim, bus)


@pytest.mark.parametrize("point", ["between_chain_sends", "after_record_before_place"])
def test_a_worker_killed_between_the_sends_leaves_nothing_working_and_the_bracket_refused(
    sim, bus, start_worker, point
):
    first = start_worker(bus, point)
    order = bracket()
    parent, take, stop = ids(order)
    bus.send(order)
    assert first.wait_exit(10) == 137
    sent = [p["order_ref"] for p in sim.ledger.snapshot()["place_orders"]]
    assert sent == ([parent] if point == "between_chain_sends" else [])
    # TWS discarded the untransmitted parent with its client's socket: nothing of the chain works.
    wait_until(lambda: not sim.control.state()["clients"], 5, what="the dead worker's socket gone")
    assert not any(sim_order(sim, coid) for coid in (parent, take, stop))
    start_worker(bus)
    for coid in (parent, take, stop):
        rejected = bus.wait_event("order.rejected", client_order_id=coid)
        assert rejected.code == "worker.bracket_incomplete"
        assert "transmitted" in rejected.reason and rejected.command_id == order.id
    wait_until(lambda: bus.pending() == 0, 5, what="the redelivered bracket acknowledged")
    # Never re-sent: the ledger has no placeOrder beyond what the dead worker wrote.
    assert [p["order_ref"] for p in sim.ledger.snapshot()["place_orders"]] == sent
    sim.control.set_price("AAPL", 99.0)
    assert not sim.ledger.snapshot()["executions"]
    check_ledger(sim, bus)


def test_a_socket_dropped_mid_chain_refuses_the_bracket_and_nothing_works(sim, bus, start_worker):
    start_worker(bus)
    sim.control.drop_mid_chain(after=1)
    order = bracket()
    parent, take, stop = ids(order)
    ready_before = bus.count_ready()
    bus.send(order)
    for coid in (parent, take, stop):
        assert bus.wait_event("order.rejected", client_order_id=coid).code == "worker.bracket_incomplete"
    wait_until(lambda: bus.count_ready() > ready_before, 15, what="reconnected")
    assert not any(sim_order(sim, coid) for coid in (parent, take, stop))
    after = place(quantity="3")
    bus.send(after)
    bus.wait_event("order.status", client_order_id=after.client_order_id, status="Filled")
    check_ledger(sim, bus)


@pytest.mark.parametrize(
    ("oca_type", "other_after"),
    [(1, ("Cancelled", None)), (2, ("Submitted", Decimal(6))), (3, ("Submitted", Decimal(6)))],
)
def test_an_oca_group_is_sent_with_its_type_and_tws_applies_it(sim, bus, start_worker, oca_type, other_after):
    start_worker(bus)
    group = f"oca-{uuid.uuid4().hex[:8]}"
    first = place(
        quantity="10", side="SELL", order_type="LMT", limit_price=Decimal("200"), oca_group=group, oca_type=oca_type
    )
    second = place(
        quantity="10", side="SELL", order_type="STP", stop_price=Decimal("150"), oca_group=group, oca_type=oca_type
    )
    bus.send(first, second)
    bus.wait_event("order.status", client_order_id=second.client_order_id, status="Submitted")
    at_tws = sim_order(sim, first.client_order_id)
    assert (at_tws["oca_group"], at_tws["oca_type"]) == (group, oca_type)
    sim.control.fill_order(7, at_tws["order_id"], quantity=4, price=200.0)
    status, remaining = other_after

    def settled():
        last = [e for e in bus.events("order.status") if e.client_order_id == second.client_order_id][-1]
        return last.status == status and remaining in (None, last.remaining)

    wait_until(settled, 5, what=f"the other member {status} with {remaining} left")
    check_ledger(sim, bus)


def _decoded(**data_overrides) -> m.OrderPlace:
    fields = m.encode(bracket())
    import json

    data = json.loads(fields["data"])
    data.update(data_overrides)
    return m.decode({**fields, "data": json.dumps(data)})


def test_the_contract_takes_a_bracket_and_an_oca_type_as_optional_keys():
    order = _decoded(oca_group="g1", oca_type=2)
    assert order.oca_type == 2 and len(order.children) == 2
    assert order.children[1]["stop_price"] == Decimal("90") and order.children[1]["tif"] == "DAY"
    plain = m.encode(place())
    assert "children" not in plain["data"] and "oca_type" not in plain["data"]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"oca_type": 4}, m.BAD_FIELD),
        ({"children": []}, m.BAD_FIELD),
        ({"children": [{"side": "SELL", "quantity": "1"}]}, m.MISSING_FIELD),
        (
            {"children": [{"client_order_id": str(uuid.uuid4()), "side": "SELL", "quantity": "1", "x": 1}]},
            m.UNKNOWN_FIELD,
        ),
        (
            {
                "children": [
                    {"client_order_id": str(uuid.uuid4()), "side": "SELL", "quantity": "1", "order_type": "LMT"}
                ]
            },
            m.MISSING_FIELD,
        ),
        ({"not_before": 1}, m.BAD_FIELD),
    ],
)
def test_a_malformed_bracket_is_refused_by_the_decoder(overrides, code):
    with pytest.raises(m.MessageError) as error:
        _decoded(**overrides)
    assert error.value.code == code
