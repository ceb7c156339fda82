"""TWS's error codes on an order: only explicit reject codes reject, and a 103 (duplicate order id) is
settled without taking another order's statuses for ours or replacing the order on a modify."""

from __future__ import annotations

import time
import uuid

from execution_worker.tests.harness import (
    make_ready,
    orders_for,
    place,
    publish_all,
    record_order,
    wait_until,
)


def test_a_warning_before_the_first_acknowledgement_does_not_reject_a_live_order(sim, bus, start_worker):
    start_worker(bus)
    # 404: TWS holds the order while it locates shares to short; the order is live (PreSubmitted).
    sim.control.reject_next_order(reason="Order held while securities are located.", code=404, status="PreSubmitted")
    order = place(quantity="15", side="SELL")
    bus.send(order)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="PreSubmitted")
    time.sleep(0.3)
    assert [e for e in bus.events("order.rejected") if e.client_order_id == order.client_order_id] == []
    assert bus.wait_event("order.accepted", client_order_id=order.client_order_id).order_id


def test_after_103_the_other_orders_statuses_under_the_old_id_are_not_taken_for_ours(worker_in_process, bus, sim):
    worker = worker_in_process
    make_ready(worker)
    record = record_order(worker, "sent", accepted=False)
    stale_id = record.order_id
    worker._last_status[stale_id] = ("Submitted", 0.0, 5.0)
    worker.on_error(worker.generation, stale_id, 103, "Duplicate order ID")
    assert stale_id not in worker.book.by_order_id and stale_id not in worker._last_status
    # The order that really owns the id fills; its status must not become ours.
    worker.on_orderStatus(worker.generation, stale_id, "Filled", 5.0, 0.0, 190.0, 987654, 0, 190.0, 1, "")
    # Our order is looked for at TWS, not found, and placed once under a fresh id.
    worker.connection_step()
    wait_until(lambda: orders_for(sim, record.client_order_id), 3, what="the retry at TWS")
    assert worker.book.records[record.client_order_id].order_id != stale_id
    publish_all(worker)
    statuses = [e for e in bus.events("order.status") if e.client_order_id == record.client_order_id]
    assert all(e.order_id != stale_id and e.status != "Filled" for e in statuses), statuses


def test_a_103_answering_a_modify_refuses_the_modify_and_never_replaces_the_order(worker_in_process, bus, sim):
    worker = worker_in_process
    make_ready(worker)
    record = record_order(worker, "Submitted", accepted=True)
    record.extra.update(action="modify", command_id=str(uuid.uuid4()))
    worker.on_error(worker.generation, record.order_id, 103, "Duplicate order ID")
    assert record.client_order_id not in worker._retry_103
    publish_all(worker)
    refused = bus.wait_event("order.rejected", client_order_id=record.client_order_id)
    assert (refused.action, refused.code) == ("modify", "broker.103")
