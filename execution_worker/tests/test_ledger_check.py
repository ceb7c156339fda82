"""The harness's ledger check itself: it fails when TWS took one order twice, so scenarios ending with it can fail."""

from __future__ import annotations

from decimal import Decimal

import pytest

from execution_worker.tests.harness import check_ledger, handle_commands, make_ready, orders_for, place, wait_until


def test_the_ledger_check_fails_when_tws_takes_the_same_order_ref_as_new_twice_under_one_order_id(
    worker_in_process, bus, sim
):
    worker = worker_in_process
    make_ready(worker)
    order = place(quantity="6", order_type="LMT", limit_price=Decimal("100"))
    bus.send(order)
    handle_commands(worker)
    wait_until(lambda: orders_for(sim, order.client_order_id), 3, what="the order at TWS")
    check_ledger(sim, bus)
    # The same orderId and orderRef from another clientId is a new order for TWS: a second placement.
    worker.connection.close()
    worker.config.tws_client_id += 1
    worker.connection_step()
    worker._next_attempt = 0.0
    wait_until(lambda: worker.connection_step() or worker.ready.is_set(), 5, what="reconnected")
    record = worker.book.records[order.client_order_id]
    worker._send_order(record)
    wait_until(lambda: len(orders_for(sim, order.client_order_id)) == 2, 3, what="the second placeOrder")
    assert {p["order_id"] for p in orders_for(sim, order.client_order_id)} == {record.order_id}
    with pytest.raises(AssertionError, match="more than once"):
        check_ledger(sim, bus)
