"""Modifies of an order: refused unless TWS acknowledged the order, applied once per message id, and
described as TWS has the order after a refusal."""

from __future__ import annotations

import time
from decimal import Decimal

from execution_worker import messages as m
from execution_worker.tests.harness import (
    check_ledger,
    handle_commands,
    make_ready,
    orders_for,
    place,
    record_order,
    wait_until,
)


def test_a_modify_of_an_order_whose_outcome_is_unknown_is_refused_and_never_reaches_tws(worker_in_process, bus, sim):
    worker = worker_in_process
    make_ready(worker)
    for state, accepted in (("unknown", False), ("sent", False), ("unknown", True)):
        record = record_order(worker, state, accepted=accepted)
        bus.send(m.OrderModify(client_order_id=record.client_order_id, limit_price=Decimal("151")))
        handle_commands(worker)
        refused = bus.wait_event("order.rejected", client_order_id=record.client_order_id)
        assert (refused.action, refused.code) == ("modify", "worker.not_modifiable"), state
        time.sleep(0.2)
        assert not orders_for(sim, record.client_order_id), f"placeOrder sent for a {state} order"
        assert worker.book.records[record.client_order_id].limit_price == "150"


def test_a_republished_modify_is_never_applied_twice_even_after_a_restart_and_events_name_their_command(
    sim, bus, start_worker
):
    bus.set_limits(max_order_quantity=1000)
    first = start_worker(bus)
    order = place(quantity="7", order_type="LMT", limit_price=Decimal("100"))
    too_big = place(quantity="5000")
    bus.send(order, too_big)
    assert bus.wait_event("order.accepted", client_order_id=order.client_order_id).command_id == order.id
    assert bus.wait_event("order.rejected", client_order_id=too_big.client_order_id).command_id == too_big.id
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    modifies = [m.OrderModify(client_order_id=order.client_order_id, limit_price=Decimal(p)) for p in ("101", "102")]
    for count, modify in enumerate(modifies, start=2):
        bus.send(modify)
        # A price-only modify changes neither the status word nor the figures: it still gets its event.
        status = bus.wait_event("order.status", client_order_id=order.client_order_id, command_id=modify.id)
        assert status.status == "Submitted"
        assert len(orders_for(sim, order.client_order_id)) == count
    bus.send_raw(m.encode(modifies[0]))  # the relay republishes a row no event acknowledged yet
    wait_until(lambda: bus.pending() == 0, 5, what="the copy acknowledged")
    first.kill9()
    bus.send_raw(m.encode(modifies[0]))  # and again after the worker restarted
    start_worker(bus)
    wait_until(lambda: bus.pending() == 0, 5, what="the second copy acknowledged")
    time.sleep(0.5)
    sent = orders_for(sim, order.client_order_id)
    assert [p["lmt_price"] for p in sent] == [100.0, 101.0, 102.0]
    check_ledger(sim, bus)


def test_a_modify_tws_refuses_leaves_the_order_described_as_tws_has_it(sim, bus, start_worker):
    start_worker(bus)
    order = place(quantity="9", order_type="LMT", limit_price=Decimal("100"))
    bus.send(order)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    bad_tick = m.OrderModify(client_order_id=order.client_order_id, limit_price=Decimal("100.001"), quantity=3)
    bus.send(bad_tick)
    refused = bus.wait_event("order.rejected", client_order_id=order.client_order_id, command_id=bad_tick.id)
    assert (refused.action, refused.code) == ("modify", "broker.110")
    good = m.OrderModify(client_order_id=order.client_order_id, limit_price=Decimal("101"))
    bus.send(good)
    status = bus.wait_event("order.status", client_order_id=order.client_order_id, command_id=good.id)
    assert (status.quantity, status.limit_price) == (Decimal("9"), Decimal("101"))
    bus.send(m.OrderCancel(client_order_id=order.client_order_id))
    cancelled = bus.wait_event("order.status", client_order_id=order.client_order_id, status="Cancelled")
    assert (cancelled.quantity, cancelled.limit_price) == (Decimal("9"), Decimal("101"))


def test_a_tif_modify_reaches_tws_with_the_new_tif_and_the_record_takes_it_once_tws_confirms(sim, bus, start_worker):
    start_worker(bus)
    order = place(quantity="4", order_type="LMT", limit_price=Decimal("100"))
    bus.send(order)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    to_gtc = m.OrderModify(client_order_id=order.client_order_id, tif="GTC")
    bus.send(to_gtc)
    status = bus.wait_event("order.status", client_order_id=order.client_order_id, command_id=to_gtc.id)
    assert (status.status, status.tif, status.quantity, status.limit_price) == (
        "Submitted",
        "GTC",
        Decimal("4"),
        Decimal("100"),
    )
    assert [(p["tif"], p["lmt_price"]) for p in orders_for(sim, order.client_order_id)] == [
        ("DAY", 100.0),
        ("GTC", 100.0),
    ]
