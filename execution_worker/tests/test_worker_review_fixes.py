"""Order-path review findings (worker side), each pinned by a test against the simulator over a real socket.

The worker is driven one step at a time (``worker_in_process``) where the order of steps matters, and run
as a subprocess (``start_worker``) where the whole path matters.
"""

# The fixtures are imported from test_worker_commands and named as test parameters (pytest's way).
# ruff: noqa: F811

from __future__ import annotations

import time

from execution_worker import messages as m
from execution_worker.tests.harness import ACCOUNT, place, wait_until
from execution_worker.tests.test_worker_commands import bus, sim, start_worker, worker_in_process  # noqa: F401
from execution_worker.tests.test_worker_faults import _orders_for


def _ready(worker) -> None:
    worker.connection_step()
    assert worker.ready.is_set()
    worker.reload_limits()


def _drain(worker, rounds: int = 20) -> None:
    """Run command steps until the stream has nothing left for this consumer (bounded), then publish."""
    for _ in range(rounds):
        if not worker.command_step():
            break
    _flush(worker)


def _flush(worker) -> None:
    """Write the events the in-process worker queued (its publisher thread is not running)."""
    while worker.publish_step(0.01):
        pass


# --- 1. halts and resumes keep stream order; held orders go out after the stream is read ----------------


def test_a_resume_then_a_halt_in_one_batch_leaves_the_account_halted(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    bus.send(m.TradingResume(account=ACCOUNT), m.TradingHalt(account=ACCOUNT, reason="panic"))
    wait_until(worker.command_step, 2, what="the batch handled")
    assert worker.gate.halted(ACCOUNT) == "panic"
    assert worker.redis.hget(worker.store.halts_key, ACCOUNT) == b"panic"


def test_a_halt_still_refuses_a_place_queued_before_it_but_not_one_after_a_later_resume(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    before, after = place(quantity="3"), place(quantity="4")
    bus.send(before, m.TradingHalt(account=ACCOUNT, reason="stop"), m.TradingResume(account=ACCOUNT), after)
    wait_until(worker.command_step, 2, what="the batch handled")
    _flush(worker)
    refused = bus.wait_event("order.rejected", client_order_id=before.client_order_id)
    assert refused.code == "risk.halted"
    wait_until(lambda: _orders_for(sim, after.client_order_id), 3, what="the order after the resume at TWS")
    assert not _orders_for(sim, before.client_order_id)
    assert worker.gate.halted(ACCOUNT) is None


def test_a_halt_waiting_in_the_stream_is_applied_before_a_due_held_order_goes_out(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    held = place(quantity="5", not_before=time.time_ns() + 300_000_000)
    bus.send(held)
    wait_until(worker.command_step, 2, what="the held order recorded")
    assert worker.records[held.client_order_id].state == "scheduled"
    # The order falls due while a halt waits in the stream (as after a reconnect).
    wait_until(lambda: time.time_ns() > held.not_before, 2, what="the held order due")
    bus.send(m.TradingHalt(account=ACCOUNT, reason="desk stop"))
    _drain(worker)
    assert bus.wait_event("order.rejected", client_order_id=held.client_order_id).code == "risk.halted"
    time.sleep(0.3)
    assert not _orders_for(sim, held.client_order_id)
