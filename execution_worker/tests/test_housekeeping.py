"""Housekeeping and the in-flight timer: old final orders and executions are forgotten by age (memory
stays bounded), live and recent ones kept; an order TWS acknowledged is never marked unknown."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from execution_worker.tests.harness import ACCOUNT, publish_all, record_order


def _exec(exec_id: str, when: str):
    from ibapi.contract import Contract
    from ibapi.execution import Execution

    contract, execution = Contract(), Execution()
    contract.symbol = "AAPL"
    execution.execId, execution.orderId, execution.acctNumber = exec_id, 0, ACCOUNT
    execution.side, execution.shares, execution.price, execution.time = "BOT", 1.0, 190.0, when
    return contract, execution


def test_housekeeping_forgets_old_final_orders_and_old_executions_but_keeps_recent_and_live_ones(
    worker_in_process, bus
):
    worker = worker_in_process
    week_ago = time.time_ns() - 8 * 24 * 3600 * 1_000_000_000
    old_final = record_order(worker, "Filled", accepted=True)
    old_live = record_order(worker, "Submitted", accepted=True)
    recent_final = record_order(worker, "Filled", accepted=True)
    for record in (old_final, old_live):
        record.created_ns = week_ago
        worker.store.save(record)
    worker._last_status[old_final.order_id] = ("Filled", 5.0, 0.0)
    old_day = (datetime.now(UTC) - timedelta(days=9)).strftime("%Y%m%d %H:%M:%S UTC")
    today = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
    for exec_id, when in (("old.01", old_day), ("new.01", today)):
        worker.on_execDetails(worker.generation, -1, *_exec(exec_id, when))
    worker.housekeeping_step()
    assert set(worker.book.records) == {old_live.client_order_id, recent_final.client_order_id}
    assert old_final.order_id not in worker.book.by_order_id and old_final.order_id not in worker._last_status
    assert worker.redis.hget(worker.store.orders_key, old_final.client_order_id) is None
    assert worker._seen_exec_ids == {"new.01"} and set(worker._exec_accounts) == {"new.01"}


def test_the_in_flight_timer_leaves_an_order_tws_already_acknowledged(worker_in_process, bus):
    worker = worker_in_process
    answered, silent = record_order(worker, "Submitted", accepted=True), record_order(worker, "sent", accepted=False)
    long_ago = time.monotonic() - 60
    worker._in_flight.update({answered.client_order_id: long_ago, silent.client_order_id: long_ago})
    worker._check_in_flight(time.monotonic())
    publish_all(worker)
    assert [e.client_order_id for e in bus.events("order.unknown")] == [silent.client_order_id]
    assert answered.state == "Submitted" and silent.state == "unknown" and not worker._in_flight
