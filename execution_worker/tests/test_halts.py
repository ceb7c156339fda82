"""Halts and resumes apply in stream order: within a batch, against held orders, and when republished.

The worker is driven one step at a time (``worker_in_process``) against the simulator over a real socket.
"""

from __future__ import annotations

import time

from execution_worker import messages as m
from execution_worker.tests.harness import (
    ACCOUNT,
    handle_commands,
    make_ready,
    orders_for,
    place,
    publish_all,
    wait_until,
)


def test_a_resume_then_a_halt_in_one_batch_leaves_the_account_halted(worker_in_process, bus, sim):
    worker = worker_in_process
    make_ready(worker)
    bus.send(m.TradingResume(account=ACCOUNT), m.TradingHalt(account=ACCOUNT, reason="panic"))
    wait_until(worker.command_step, 2, what="the batch handled")
    assert worker.gate.halted(ACCOUNT) == "panic"
    assert worker.redis.hget(worker.store.halts_key, ACCOUNT) == b"panic"


def test_a_halt_still_refuses_a_place_queued_before_it_but_not_one_after_a_later_resume(worker_in_process, bus, sim):
    worker = worker_in_process
    make_ready(worker)
    before, after = place(quantity="3"), place(quantity="4")
    bus.send(before, m.TradingHalt(account=ACCOUNT, reason="stop"), m.TradingResume(account=ACCOUNT), after)
    wait_until(worker.command_step, 2, what="the batch handled")
    publish_all(worker)
    refused = bus.wait_event("order.rejected", client_order_id=before.client_order_id)
    assert refused.code == "risk.halted"
    wait_until(lambda: orders_for(sim, after.client_order_id), 3, what="the order after the resume at TWS")
    assert not orders_for(sim, before.client_order_id)
    assert worker.gate.halted(ACCOUNT) is None


def test_a_halt_waiting_in_the_stream_is_applied_before_a_due_held_order_goes_out(worker_in_process, bus, sim):
    worker = worker_in_process
    make_ready(worker)
    held = place(quantity="5", not_before=time.time_ns() + 300_000_000)
    bus.send(held)
    wait_until(worker.command_step, 2, what="the held order recorded")
    assert worker.book.records[held.client_order_id].state == "scheduled"
    # The order falls due while a halt waits in the stream (as after a reconnect).
    wait_until(lambda: time.time_ns() > held.not_before, 2, what="the held order due")
    bus.send(m.TradingHalt(account=ACCOUNT, reason="desk stop"))
    handle_commands(worker)
    assert bus.wait_event("order.rejected", client_order_id=held.client_order_id).code == "risk.halted"
    time.sleep(0.3)
    assert not orders_for(sim, held.client_order_id)


def test_a_republished_resume_does_not_lift_a_later_halt(worker_in_process, bus, sim):
    worker = worker_in_process
    make_ready(worker)
    resume = m.TradingResume(account=ACCOUNT)
    for command in (m.TradingHalt(account=ACCOUNT, reason="first"), resume, m.TradingHalt(account=ACCOUNT, reason="2")):
        bus.send(command)
        handle_commands(worker)
    bus.send_raw(m.encode(resume))  # the relay republishes the resume's row
    handle_commands(worker)
    assert worker.gate.halted(ACCOUNT) == "2" and bus.pending() == 0
