"""Order-path review findings (worker side), each pinned by a test against the simulator over a real socket.

The worker is driven one step at a time (``worker_in_process``) where the order of steps matters, and run
as a subprocess (``start_worker``) where the whole path matters.
"""

# The fixtures are imported from test_worker_commands and named as test parameters (pytest's way).

from __future__ import annotations

import queue
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis

from execution_worker import messages as m
from execution_worker.callbacks import _exec_time_iso
from execution_worker.session import executions_since
from execution_worker.store import OrderRecord
from execution_worker.tests.harness import ACCOUNT, check_ledger, orders_for, place, wait_until


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
    wait_until(lambda: orders_for(sim, after.client_order_id), 3, what="the order after the resume at TWS")
    assert not orders_for(sim, before.client_order_id)
    assert worker.gate.halted(ACCOUNT) is None


def test_a_halt_waiting_in_the_stream_is_applied_before_a_due_held_order_goes_out(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    held = place(quantity="5", not_before=time.time_ns() + 300_000_000)
    bus.send(held)
    wait_until(worker.command_step, 2, what="the held order recorded")
    assert worker.book.records[held.client_order_id].state == "scheduled"
    # The order falls due while a halt waits in the stream (as after a reconnect).
    wait_until(lambda: time.time_ns() > held.not_before, 2, what="the held order due")
    bus.send(m.TradingHalt(account=ACCOUNT, reason="desk stop"))
    _drain(worker)
    assert bus.wait_event("order.rejected", client_order_id=held.client_order_id).code == "risk.halted"
    time.sleep(0.3)
    assert not orders_for(sim, held.client_order_id)


# --- 2. a modify of an order not acknowledged (or of unknown outcome) is refused, never placed ---------------


def _record(worker, state: str, *, accepted: bool) -> OrderRecord:
    """An order as the worker leaves it after sending (state ``sent``) or losing the answer (``unknown``)."""
    coid = str(uuid.uuid4())
    order_id = worker.book.max_order_id + 50
    record = OrderRecord(
        client_order_id=coid,
        account=ACCOUNT,
        symbol="AAPL",
        side="BUY",
        quantity="5",
        order_type="LMT",
        limit_price="150",
        order_id=order_id,
        state=state,
        accepted=accepted,
        created_ns=time.time_ns(),
    )
    assert worker.store.record_new(record)
    worker.book.records[coid] = record
    worker.book.by_order_id[order_id] = coid
    worker.book.max_order_id = order_id
    return record


def test_a_modify_of_an_order_whose_outcome_is_unknown_is_refused_and_never_reaches_tws(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    for state, accepted in (("unknown", False), ("sent", False), ("unknown", True)):
        record = _record(worker, state, accepted=accepted)
        bus.send(m.OrderModify(client_order_id=record.client_order_id, limit_price=Decimal("151")))
        _drain(worker)
        refused = bus.wait_event("order.rejected", client_order_id=record.client_order_id)
        assert (refused.action, refused.code) == ("modify", "worker.not_modifiable"), state
        time.sleep(0.2)
        assert not orders_for(sim, record.client_order_id), f"placeOrder sent for a {state} order"
        assert worker.book.records[record.client_order_id].limit_price == "150"


def test_the_ledger_check_fails_when_tws_takes_the_same_order_ref_as_new_twice_under_one_order_id(
    worker_in_process, bus, sim
):
    worker = worker_in_process
    _ready(worker)
    order = place(quantity="6", order_type="LMT", limit_price=Decimal("100"))
    bus.send(order)
    _drain(worker)
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


# --- 3. commands applied once per message id, durably; events name the command they answer ----------------


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


# --- 7. nothing is sent unless the session is ready; the command is held, not refused ------------------------


def test_a_place_read_before_1100_is_held_until_the_session_is_reconciled_again(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    order = place(quantity="8")
    bus.send(order)
    entries = worker.commands.read(16, None)
    # TWS loses its connection to IB (socket up, session not ready) while the batch is being handled.
    worker.on_error(worker.generation, -1, 1100, "Connectivity between IB and TWS has been lost.")
    worker.handle_entries(entries)
    _flush(worker)
    time.sleep(0.2)
    assert not orders_for(sim, order.client_order_id)
    assert bus.events("order.rejected") == [] and bus.pending() == 1
    worker.on_error(worker.generation, -1, 1102, "Connectivity between IB and TWS has been restored.")
    worker.connection_step()
    assert worker.ready.is_set()
    _drain(worker)
    wait_until(lambda: orders_for(sim, order.client_order_id), 3, what="the order at TWS after reconciling")
    assert bus.pending() == 0
    check_ledger(sim, bus)


# --- 5. the worker's own orders are described in order.accepted and order.status --------------------------


def test_accepted_and_status_events_describe_the_workers_own_order(sim, bus, start_worker):
    start_worker(bus)
    order = place(quantity="12", side="SELL", order_type="LMT", limit_price=Decimal("250"), tif="GTC")
    bus.send(order)
    accepted = bus.wait_event("order.accepted", client_order_id=order.client_order_id)
    status = bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    for event in (accepted, status):
        described = (event.symbol, event.side, event.quantity, event.order_type, event.limit_price, event.tif)
        assert described == ("AAPL", "SELL", Decimal("12"), "LMT", Decimal("250"), "GTC"), event.TYPE
        assert event.stop_price is None
    assert status.account == ACCOUNT and not status.external


# --- 8. only explicit reject codes reject; warnings about a live order do not -------------------------------


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


# --- 9. after 103 the colliding orderId is forgotten; a 103 on a modify is a refused modify ------------------


def test_after_103_the_other_orders_statuses_under_the_old_id_are_not_taken_for_ours(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    record = _record(worker, "sent", accepted=False)
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
    _flush(worker)
    statuses = [e for e in bus.events("order.status") if e.client_order_id == record.client_order_id]
    assert all(e.order_id != stale_id and e.status != "Filled" for e in statuses), statuses


def test_a_103_answering_a_modify_refuses_the_modify_and_never_replaces_the_order(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    record = _record(worker, "Submitted", accepted=True)
    record.extra.update(action="modify", command_id=str(uuid.uuid4()))
    worker.on_error(worker.generation, record.order_id, 103, "Duplicate order ID")
    assert record.client_order_id not in worker._retry_103
    _flush(worker)
    refused = bus.wait_event("order.rejected", client_order_id=record.client_order_id)
    assert (refused.action, refused.code) == ("modify", "broker.103")


# --- 6. max_position counts working orders on the same side --------------------------------------------------


def test_a_second_order_that_with_a_working_one_would_pass_max_position_is_refused(worker_in_process, bus, sim):
    worker = worker_in_process
    bus.set_limits(max_order_quantity=1000, max_position=15)
    _ready(worker)
    working = place(quantity="10", order_type="LMT", limit_price=Decimal("100"))
    bus.send(working)
    _drain(worker)
    wait_until(
        lambda: _flush(worker) or worker.book.records[working.client_order_id].state == "Submitted", 3, what="working"
    )
    more, other_side = place(quantity="10"), place(quantity="10", side="SELL")
    bus.send(more, other_side)
    _drain(worker)
    assert bus.wait_event("order.rejected", client_order_id=more.client_order_id).code == "risk.max_position"
    wait_until(lambda: orders_for(sim, other_side.client_order_id), 3, what="the sell at TWS")


# --- 11. a batch Redis refused is written again before anything newer ---------------------------------------


class _InterleavingQueue(queue.SimpleQueue):
    """A queue where, once armed, the next put is overtaken by ``intruder`` (a callback thread's emit
    landing between the publisher's steps)."""

    armed = None

    def put(self, item, block=True, timeout=None):
        intruder, self.armed = self.armed, None
        if intruder is not None:
            super().put(intruder)
        super().put(item)


def test_a_failed_publish_batch_is_written_before_newer_events_and_only_once(worker_in_process, bus):
    worker = worker_in_process
    worker.publisher.queue = _InterleavingQueue()
    older = [m.GatewayStatus(state="connecting", detail=f"older {i}") for i in range(3)]
    newer = m.GatewayStatus(state="connecting", detail="newer")
    for message in older:
        worker.emit(message)
    good, worker.publisher.redis = (
        worker.publisher.redis,
        redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2),
    )
    try:
        worker.publisher.queue.armed = ("xadd", bus.names.events, m.encode(newer), 0)
        with pytest.raises(redis.RedisError):
            worker.publish_step(0.01)
        if worker.publisher.queue.armed is not None:  # the publisher did not touch the queue: emit it now
            worker.publisher.queue.armed = None
            worker.emit(newer)
    finally:
        worker.publisher.redis.close()
        worker.publisher.redis = good
    _flush(worker)
    details = [e.detail for e in bus.events("gateway.status")]
    assert details == ["older 0", "older 1", "older 2", "newer"]


# --- 10. executions are asked for across midnight; TWS's zone suffix is read ---------------------------------


def test_reconciliation_asks_for_executions_across_utc_midnight_and_from_before_the_last_one_seen():
    just_after_midnight = datetime(2026, 11, 22, 0, 10, tzinfo=UTC)
    # A fill at 23:50 during a disconnect is inside the window asked for at 00:10.
    assert executions_since(just_after_midnight, None) <= datetime(2026, 11, 21, 23, 50, tzinfo=UTC)
    last_seen = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert executions_since(just_after_midnight, last_seen) < last_seen
    assert executions_since(just_after_midnight, datetime(2026, 10, 1, tzinfo=UTC)) >= just_after_midnight - timedelta(
        days=7
    )


def test_an_execution_time_with_tws_zone_suffix_is_converted_to_utc():
    assert _exec_time_iso("20261121 18:01:10 US/Eastern") == "2026-11-21T23:01:10Z"
    assert _exec_time_iso("20261121  18:01:10 UTC") == "2026-11-21T18:01:10Z"
    assert _exec_time_iso("20261121 18:01:10") == "2026-11-21T18:01:10Z"


# --- 12. housekeeping forgets by age, so memory stays bounded ------------------------------------------------


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
    old_final = _record(worker, "Filled", accepted=True)
    old_live = _record(worker, "Submitted", accepted=True)
    recent_final = _record(worker, "Filled", accepted=True)
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


# --- minor: the in-flight timer never marks an acknowledged order unknown ------------------------------------


def test_the_in_flight_timer_leaves_an_order_tws_already_acknowledged(worker_in_process, bus):
    worker = worker_in_process
    answered, silent = _record(worker, "Submitted", accepted=True), _record(worker, "sent", accepted=False)
    long_ago = time.monotonic() - 60
    worker._in_flight.update({answered.client_order_id: long_ago, silent.client_order_id: long_ago})
    worker._check_in_flight(time.monotonic())
    _flush(worker)
    assert [e.client_order_id for e in bus.events("order.unknown")] == [silent.client_order_id]
    assert answered.state == "Submitted" and silent.state == "unknown" and not worker._in_flight


def test_a_republished_resume_does_not_lift_a_later_halt(worker_in_process, bus, sim):
    worker = worker_in_process
    _ready(worker)
    resume = m.TradingResume(account=ACCOUNT)
    for command in (m.TradingHalt(account=ACCOUNT, reason="first"), resume, m.TradingHalt(account=ACCOUNT, reason="2")):
        bus.send(command)
        _drain(worker)
    bus.send_raw(m.encode(resume))  # the relay republishes the resume's row
    _drain(worker)
    assert worker.gate.halted(ACCOUNT) == "2" and bus.pending() == 0


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


# --- a claim in Redis that fails: the order is neither lost nor refused as its own duplicate ----------------


def _failing_claim(worker, monkeypatch, *, ran: bool) -> None:
    """Make the next claim fail as a dropped connection does: after Redis ran it (``ran``: only the
    reply is lost) or before; later claims go through."""
    record_new = worker.command_store.record_new

    def fail_once(record):
        monkeypatch.setattr(worker.command_store, "record_new", record_new)
        if ran:
            record_new(record)
        raise redis.ConnectionError("Connection closed by server.")

    monkeypatch.setattr(worker.command_store, "record_new", fail_once)


def test_an_order_whose_claim_ran_but_whose_reply_was_lost_is_placed_once_on_redelivery(
    worker_in_process, bus, sim, monkeypatch
):
    worker = worker_in_process
    _ready(worker)
    _failing_claim(worker, monkeypatch, ran=True)
    order = place(quantity="7")

    bus.send(order)
    _drain(worker)

    placed = wait_until(lambda: orders_for(sim, order.client_order_id), 3, what="the order at TWS")
    stored = worker.command_store.record_get(order.client_order_id)
    assert [p["order_id"] for p in placed] == [stored.order_id]
    assert not bus.events("order.rejected")
    assert bus.pending() == 0
    _flush(worker)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    check_ledger(sim, bus)


def test_an_order_whose_claim_failed_before_running_is_not_refused_as_its_own_duplicate(
    worker_in_process, bus, sim, monkeypatch
):
    worker = worker_in_process
    _ready(worker)
    _failing_claim(worker, monkeypatch, ran=False)
    order, copy = place(quantity="8"), place(quantity="8")  # same order, another intent

    bus.send(order)
    _drain(worker)
    bus.send(copy)
    _drain(worker)

    assert len(wait_until(lambda: orders_for(sim, order.client_order_id), 3, what="the order at TWS")) == 1
    _flush(worker)
    refused = bus.wait_event("order.rejected", client_order_id=copy.client_order_id)
    assert refused.code == "risk.duplicate"  # another intent within 2 s still is a duplicate
    assert [e.client_order_id for e in bus.events("order.rejected")] == [copy.client_order_id]
    check_ledger(sim, bus)
