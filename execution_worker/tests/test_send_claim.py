"""Every placeOrder passes the send claim: the kill switch's barrier (``{prefix}:halts``) refuses it
whatever path it takes, an order the session left before a byte was written is sent later, once, and
a claim Redis failed to answer neither loses the order nor refuses it as its own duplicate.

The worker runs against the simulator over a socket; placeOrders are counted at the simulator.
"""

from __future__ import annotations

import json
import threading
import time
from decimal import Decimal

import pytest
import redis

from execution_worker import messages as m
from execution_worker.pacing import TokenBucket
from execution_worker.store import SEND_LEASE_MS, OrderRecord, Store
from execution_worker.tests.harness import (
    ACCOUNT,
    REDIS_URL,
    Bus,
    check_ledger,
    handle_commands,
    make_ready,
    orders_for,
    place,
    publish_all,
    wait_until,
)
from tws_simulator import Simulator, SimulatorConfig

OTHER = "DU0000002"


@pytest.fixture
def sim():
    """The paper TWS with two accounts."""
    simulator = Simulator(
        SimulatorConfig(host="127.0.0.1", port=0, accounts=[ACCOUNT, OTHER], seed=1, market_interval=0)
    )
    simulator.start()
    yield simulator
    simulator.stop()


def _barrier(bus: Bus, scope: str, reason: str = "kill switch") -> None:
    """What Django's engage writes before it returns."""
    bus.client.hset(bus.names.halts, scope, json.dumps({"reason": reason, "token": "t"}))


def test_orders_read_after_the_barrier_is_written_are_refused_before_the_halt_command_arrives(sim, bus, start_worker):
    start_worker(bus)
    _barrier(bus, "*", "runaway strategy")
    orders = [place(quantity=str(30 + i)) for i in range(20)]
    bus.send(*orders)
    for order in orders:
        refused = bus.wait_event("order.rejected", client_order_id=order.client_order_id)
        assert refused.code == "risk.halted" and "runaway strategy" in refused.reason
    assert sim.ledger.snapshot()["place_orders"] == []
    wait_until(lambda: bus.pending() == 0, 5, what="every refusal acknowledged")


def test_an_account_barrier_refuses_only_that_accounts_orders(sim, bus, start_worker):
    bus.set_limits(OTHER, max_order_quantity=100_000)
    start_worker(bus)
    _barrier(bus, OTHER)
    halted = place(quantity="5", account=OTHER)
    trading = place(quantity="6")
    bus.send(halted, trading)
    assert bus.wait_event("order.rejected", client_order_id=halted.client_order_id).code == "risk.halted"
    bus.wait_event("order.status", client_order_id=trading.client_order_id, status="Filled")
    assert orders_for(sim, halted.client_order_id) == []
    bus.client.hdel(bus.names.halts, OTHER)
    released = place(quantity="7", account=OTHER)
    bus.send(released)
    bus.wait_event("order.status", client_order_id=released.client_order_id, status="Filled")
    check_ledger(sim, bus)


def test_a_held_order_whose_time_comes_under_the_barrier_is_refused_not_sent(sim, bus, start_worker):
    start_worker(bus)
    held = place(quantity="9", not_before=time.time_ns() + 1_500_000_000)
    bus.send(held)
    wait_until(lambda: bus.pending() == 0, 5, what="the held order recorded")
    _barrier(bus, ACCOUNT)
    refused = bus.wait_event("order.rejected", client_order_id=held.client_order_id, timeout=5)
    assert refused.code == "risk.halted"
    assert orders_for(sim, held.client_order_id) == []


def test_a_modify_under_the_barrier_is_refused_and_the_order_stays_as_it_is(sim, bus, start_worker):
    start_worker(bus)
    order = place(quantity="10", order_type="LMT", limit_price=Decimal("100"))
    bus.send(order)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    _barrier(bus, "*")
    bus.send(m.OrderModify(client_order_id=order.client_order_id, limit_price=Decimal("101")))
    refused = bus.wait_event("order.rejected", client_order_id=order.client_order_id, action="modify")
    assert refused.code == "risk.halted"
    # A cancel is no placeOrder: the barrier lets it through.
    bus.send(m.OrderCancel(client_order_id=order.client_order_id))
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Cancelled")
    assert len(orders_for(sim, order.client_order_id)) == 1
    check_ledger(sim, bus)


def test_the_send_claim_records_and_leases_or_refuses_under_a_halt_writing_nothing(redis_client, prefix, bus):
    store = Store(redis_client, prefix)
    names = m.StreamNames(prefix)
    first = OrderRecord(client_order_id="a", account=ACCOUNT, symbol="AAPL", side="BUY", quantity="1", order_type="MKT")
    first.order_id = 41
    assert store.claim_send(first, "new") == 1
    assert store.record_get("a").order_id == 41 and redis_client.get(store.max_id_key) == b"41"
    # The leases an engage waits out: short, for the account and for the desk.
    for scope in (ACCOUNT, "*"):
        assert 0 < redis_client.pttl(names.sending(scope)) <= SEND_LEASE_MS
    assert store.claim_send(first, "new") == 0
    redis_client.delete(names.sending(ACCOUNT), names.sending("*"))
    _barrier(bus, ACCOUNT, "margin call")
    second = OrderRecord(
        client_order_id="b", account=ACCOUNT, symbol="AAPL", side="BUY", quantity="1", order_type="MKT"
    )
    second.order_id = 42
    for mode in ("new", "allocate", "check"):
        assert store.claim_send(second, mode) == "margin call"
    assert store.record_get("b") is None and redis_client.get(store.max_id_key) == b"41"
    assert redis_client.exists(names.sending(ACCOUNT), names.sending("*")) == 0
    # The worker's own halts (from trading.halt) refuse as well, desk-wide.
    redis_client.delete(names.halts)
    store.set_halt("*", "stream halt")
    assert store.claim_send(second, "new") == "stream halt"


@pytest.mark.parametrize("single_connection", [True, False])
def test_the_send_claim_runs_the_preparation_once_and_its_connection_answers_the_next_command_in_turn(
    prefix, single_connection
):
    # The command thread's client holds one connection: the claim is written, the order made ready
    # while Redis runs it, then the reply read. A reply left unread would answer the next command.
    client = redis.Redis.from_url(REDIS_URL, single_connection_client=single_connection)
    try:
        store = Store(client, prefix)
        record = OrderRecord(
            client_order_id="c", account=ACCOUNT, symbol="AAPL", side="BUY", quantity="1", order_type="MKT"
        )
        record.order_id = 51
        ran = []
        assert store.claim_send(record, "new", meanwhile=lambda: ran.append(1)) == 1
        assert ran == [1]
        assert client.get(store.max_id_key) == b"51"

        def broken():
            raise RuntimeError("the preparation failed")

        record.client_order_id, record.order_id = "d", 52
        with pytest.raises(RuntimeError, match="preparation failed"):
            store.claim_send(record, "new", meanwhile=broken)
        # The claim ran, and its reply was read: the next command gets its own answer.
        assert client.get(store.max_id_key) == b"52"
        assert store.record_get("d").order_id == 52
    finally:
        client.close()


def test_an_order_whose_socket_closed_before_its_write_is_sent_once_when_ready_never_unknown(
    worker_in_process, bus, sim
):
    """Finding 7 of #15: placeOrder on a closed socket is ibapi's 504 "Not connected"; nothing left."""
    worker = worker_in_process
    worker.connection_step()
    assert worker.ready.is_set()
    # The order waits half a second for its pacing token, and the socket closes meanwhile.
    worker.pacing = TokenBucket(2.0, 1.0)
    worker.pacing.drain()
    order = place(quantity="12")
    bus.send(order)
    closer = threading.Timer(0.2, worker.connection.client.disconnect)
    closer.start()
    wait_until(lambda: worker.command_step(), 3, what="the order read")
    closer.join()
    assert orders_for(sim, order.client_order_id) == []
    assert bus.pending() == 1, "the order's command stays pending until the session is back"

    def reconnect() -> bool:
        # The session is lost, then connected and reconciled again (326 while TWS still holds the old one).
        worker._next_attempt = 0.0
        worker.connection_step()
        return worker.ready.is_set()

    wait_until(reconnect, 10, what="the session back")
    wait_until(lambda: worker.command_step(), 3, what="the order read again")
    wait_until(lambda: orders_for(sim, order.client_order_id), 3, what="the order at TWS")
    wait_until(lambda: worker.publish_step(0.05) == 0 and bus.events("order.accepted"), 3, what="accepted")
    assert [e.client_order_id for e in bus.events("order.accepted")] == [order.client_order_id]
    assert bus.events("order.unknown") == []
    assert bus.pending() == 0
    check_ledger(sim, bus)


def test_a_claim_made_stale_by_a_long_wait_for_its_token_is_asked_again_and_meets_the_halt(worker_in_process, bus, sim):
    """The barrier written while an order waited longer than its lease for a pacing token wins."""
    worker = worker_in_process
    worker.connection_step()
    worker.pacing = TokenBucket(2.0, 1.0)
    worker.pacing.drain()
    order = place(quantity="13")
    bus.send(order)
    engage = threading.Timer(0.3, _barrier, args=(bus, ACCOUNT, "engaged mid-wait"))
    engage.start()
    wait_until(lambda: worker.command_step(), 3, what="the order handled")
    engage.join()
    worker.publish_step(0.05)
    refused = bus.wait_event("order.rejected", client_order_id=order.client_order_id, timeout=3)
    assert refused.code == "risk.halted" and "engaged mid-wait" in refused.reason
    time.sleep(0.2)
    assert orders_for(sim, order.client_order_id) == []


# A claim in Redis that fails: the order is neither lost nor refused as its own duplicate.


def _failing_claim(worker, monkeypatch, *, ran: bool) -> list[str]:
    """Make the next send claim fail as a dropped connection does: after Redis ran it (``ran``: only
    the reply is lost) or before; later claims go through. Returns the client_order_ids whose claim
    failed, so a test sees the failure was met (a new order is claimed by ``claim_send``)."""
    store = worker.command_store
    claim_send = store.claim_send
    failed: list[str] = []

    def fail_once(record, mode, **kwargs):
        monkeypatch.setattr(store, "claim_send", claim_send)
        failed.append(record.client_order_id)
        if ran:
            claim_send(record, mode, **kwargs)
        raise redis.ConnectionError("Connection closed by server.")

    monkeypatch.setattr(store, "claim_send", fail_once)
    return failed


def test_an_order_whose_claim_ran_but_whose_reply_was_lost_is_placed_once_on_redelivery(
    worker_in_process, bus, sim, monkeypatch
):
    worker = worker_in_process
    make_ready(worker)
    failed = _failing_claim(worker, monkeypatch, ran=True)
    order = place(quantity="7")

    bus.send(order)
    handle_commands(worker)
    assert failed == [order.client_order_id]

    placed = wait_until(lambda: orders_for(sim, order.client_order_id), 3, what="the order at TWS")
    stored = worker.command_store.record_get(order.client_order_id)
    assert [p["order_id"] for p in placed] == [stored.order_id]
    assert not bus.events("order.rejected")
    assert bus.pending() == 0
    publish_all(worker)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    check_ledger(sim, bus)


def test_an_order_whose_claim_failed_before_running_is_not_refused_as_its_own_duplicate(
    worker_in_process, bus, sim, monkeypatch
):
    worker = worker_in_process
    make_ready(worker)
    failed = _failing_claim(worker, monkeypatch, ran=False)
    order, copy = place(quantity="8"), place(quantity="8")  # same order, another intent

    bus.send(order)
    handle_commands(worker)
    assert failed == [order.client_order_id]
    bus.send(copy)
    handle_commands(worker)

    assert len(wait_until(lambda: orders_for(sim, order.client_order_id), 3, what="the order at TWS")) == 1
    publish_all(worker)
    refused = bus.wait_event("order.rejected", client_order_id=copy.client_order_id)
    assert refused.code == "risk.duplicate"  # another intent within 2 s still is a duplicate
    assert [e.client_order_id for e in bus.events("order.rejected")] == [copy.client_order_id]
    check_ledger(sim, bus)
