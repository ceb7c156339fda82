"""The worker as a process against the simulator over a socket: bad input, kill -9, TWS faults, kill switch.

Each scenario ends with ``check_ledger``: at most one placeOrder per client_order_id and every
execution accounted for in the events stream.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from execution_worker import messages as m
from execution_worker.tests.harness import CLIENT_ID, Bus, check_ledger, orders_for, place, wait_until


def test_an_order_is_placed_once_filled_and_reported(sim, bus, start_worker):
    worker = start_worker(bus)
    order = place(quantity="10")
    bus.send(order)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    accepted = bus.wait_event("order.accepted", client_order_id=order.client_order_id)
    assert accepted.order_id == orders_for(sim, order.client_order_id)[0]["order_id"]
    wait_until(lambda: bus.pending() == 0, 5, what="acknowledgement")
    assert worker.terminate() == 0
    assert bus.events("gateway.status")[-1].state == "disconnected"
    check_ledger(sim, bus)


def test_bad_input_is_dead_lettered_or_rejected_and_later_commands_still_flow(sim, bus, start_worker):
    start_worker(bus)
    good = m.encode(place(quantity="1"))
    bus.send_raw({**good, "data": "{not json"})
    bus.send_raw({**good, "type": "order.teleport"})
    bus.send_raw({**good, "data": json.dumps({"client_order_id": str(uuid.uuid4())})})
    bus.send_raw({**good, "data": '{"pad":"' + "x" * (10 * 1024 * 1024) + '"}'})
    unknown_account = place(account="DU9999999", quantity="2")
    bus.send(unknown_account)
    after = place(quantity="3")
    bus.send(after)
    bus.wait_event("order.status", client_order_id=after.client_order_id, status="Filled")
    rejected = bus.wait_event("order.rejected", client_order_id=unknown_account.client_order_id)
    assert rejected.code == "risk.unknown_account"
    codes = [entry["code"] for entry in bus.dlq()]
    assert codes == ["message.undecodable", "message.unknown_type", "message.missing_field", "message.too_large"]
    assert all(entry["reason"] for entry in bus.dlq())
    wait_until(lambda: bus.pending() == 0, 5, what="everything acknowledged")
    assert not orders_for(sim, unknown_account.client_order_id)
    check_ledger(sim, bus)


def test_kill_after_reading_before_placing_places_exactly_once_after_restart(sim, bus, start_worker):
    first = start_worker(bus, "after_read_before_place")
    order = place(quantity="11")
    bus.send(order)
    assert first.wait_exit(10) == 137
    assert not orders_for(sim, order.client_order_id)
    assert bus.pending() == 1
    start_worker(bus)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    wait_until(lambda: bus.pending() == 0, 5, what="acknowledgement")
    assert len(orders_for(sim, order.client_order_id)) == 1
    check_ledger(sim, bus)


def test_kill_after_recording_before_placing_never_sends_and_reports_unknown(sim, bus, start_worker):
    first = start_worker(bus, "after_record_before_place")
    order = place(quantity="12")
    bus.send(order)
    assert first.wait_exit(10) == 137
    start_worker(bus)
    unknown = bus.wait_event("order.unknown", client_order_id=order.client_order_id)
    assert "neither" in unknown.reason
    wait_until(lambda: bus.pending() == 0, 5, what="the redelivered command acknowledged")
    assert orders_for(sim, order.client_order_id) == []
    check_ledger(sim, bus)


def test_kill_after_placing_before_ack_does_not_place_twice_and_the_real_status_arrives(sim, bus, start_worker):
    first = start_worker(bus, "after_place_before_ack")
    order = place(quantity="13")
    bus.send(order)
    assert first.wait_exit(10) == 137
    wait_until(lambda: sim.ledger.snapshot()["executions"], 5, what="the fill at the broker")
    start_worker(bus)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    wait_until(lambda: bus.pending() == 0, 5, what="the redelivered command acknowledged")
    assert len(orders_for(sim, order.client_order_id)) == 1
    check_ledger(sim, bus)


def test_a_socket_drop_mid_order_makes_it_unknown_then_reconciliation_settles_it(sim, bus, start_worker):
    start_worker(bus)
    sim.control.delay_replies(1.0)
    order = place(quantity="14", order_type="LMT", limit_price=Decimal("100"))
    bus.send(order)
    wait_until(lambda: orders_for(sim, order.client_order_id), 5, what="placeOrder at the broker")
    ready_before = bus.count_ready()
    sim.control.delay_replies(0)
    sim.control.drop_connections()
    bus.wait_event("order.unknown", client_order_id=order.client_order_id)
    wait_until(lambda: bus.count_ready() > ready_before, 10, what="reconnected")
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    assert len(orders_for(sim, order.client_order_id)) == 1
    check_ledger(sim, bus)


def test_a_hung_tws_is_detected_and_the_worker_reconnects_when_it_answers_again(sim, bus, start_worker):
    start_worker(bus)
    ready_before = bus.count_ready()
    # A silent socket: replies held back longer than the heartbeat timeout (1.5 s with fast timers).
    sim.control.hang_handshake(True)
    sim.control.delay_replies(3.0)
    wait_until(
        lambda: any("silent socket" in e.detail for e in bus.events("gateway.status")), 10, what="silence detected"
    )
    sim.control.delay_replies(0)
    wait_until(
        lambda: any("no handshake" in e.detail for e in bus.events("gateway.status")), 10, what="handshake watchdog"
    )
    sim.control.hang_handshake(False)
    wait_until(lambda: bus.count_ready() > ready_before, 15, what="ready again")
    order = place(quantity="15")
    bus.send(order)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    check_ledger(sim, bus)


def _connects(bus: Bus) -> int:
    return sum(1 for e in bus.events("gateway.status") if e.state == "connecting")


def test_fills_during_an_1100_outage_are_recovered_after_1102(sim, bus, start_worker):
    start_worker(bus)
    orders = [place(quantity=str(20 + i), order_type="LMT", limit_price=Decimal("100")) for i in range(3)]
    bus.send(*orders)
    for order in orders:
        bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    ready_before = bus.count_ready()
    sim.control.connectivity_lost(restore=None)
    bus.wait_event("gateway.status", state="disconnected")
    for order in orders[:2]:
        sim.control.fill_order(CLIENT_ID, orders_for(sim, order.client_order_id)[0]["order_id"])
    sim.control.connectivity_restored("maintained")
    wait_until(lambda: bus.count_ready() > ready_before, 10, what="reconciled after 1102")
    for order in orders[:2]:
        bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    executions = sim.ledger.snapshot()["executions"]
    assert len(executions) == 2
    wait_until(lambda: len(bus.events("order.filled")) == 2, 5, what="both fills reported once")
    assert _connects(bus) == 1  # reconciled on the same socket, which TWS kept open
    check_ledger(sim, bus)


def test_fills_while_the_socket_is_down_are_recovered_with_req_executions(sim, bus, start_worker):
    start_worker(bus)
    orders = [place(quantity=str(25 + i), order_type="LMT", limit_price=Decimal("100")) for i in range(2)]
    bus.send(*orders)
    for order in orders:
        bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    ready_before = bus.count_ready()
    sim.control.refuse_connections(True)
    sim.control.drop_connections()
    bus.wait_event("gateway.status", state="disconnected")
    # Nobody is connected to hear these fills live: only reqExecutions can bring them back.
    fills = [sim.control.fill_order(CLIENT_ID, orders_for(sim, o.client_order_id)[0]["order_id"]) for o in orders]
    sim.control.refuse_connections(False)
    wait_until(lambda: bus.count_ready() > ready_before, 15, what="reconnected and reconciled")
    for order, fill in zip(orders, fills, strict=True):
        assert bus.wait_event("order.filled", exec_id=fill["exec_id"]).client_order_id == order.client_order_id
        bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    check_ledger(sim, bus)


def test_a_rolled_back_next_valid_id_never_reuses_an_order_id(sim, bus, start_worker):
    start_worker(bus)
    first = place(quantity="30")
    bus.send(first)
    bus.wait_event("order.status", client_order_id=first.client_order_id, status="Filled")
    used = orders_for(sim, first.client_order_id)[0]["order_id"]
    sim.control.roll_back_next_valid_id(CLIENT_ID, by=1)
    ready_before = bus.count_ready()
    sim.control.drop_connections()
    wait_until(lambda: bus.count_ready() > ready_before, 10, what="reconnected")
    second = place(quantity="31")
    bus.send(second)
    bus.wait_event("order.status", client_order_id=second.client_order_id, status="Filled")
    assert orders_for(sim, second.client_order_id)[0]["order_id"] > used
    assert not [e for e in bus.events("order.rejected")]
    check_ledger(sim, bus)


def test_an_order_id_tws_already_used_is_retried_once_with_a_fresh_id(sim, bus, redis_client, prefix, start_worker):
    first_worker = start_worker(bus)
    first = place(quantity="32")
    bus.send(first)
    bus.wait_event("order.status", client_order_id=first.client_order_id, status="Filled")
    used = orders_for(sim, first.client_order_id)[0]["order_id"]
    # The worker's durable state is lost and TWS rolls its id back: the next order goes out with an
    # id TWS has already used, and TWS refuses it (103, or 104 when the id is a filled order's).
    first_worker.kill9()
    for key in list(redis_client.scan_iter(match=f"{prefix}:worker:*")):
        redis_client.delete(key)
    sim.control.roll_back_next_valid_id(CLIENT_ID, by=1)
    start_worker(bus)
    second = place(quantity="34")
    bus.send(second)
    bus.wait_event("order.status", client_order_id=second.client_order_id, status="Filled")
    assert [p["order_id"] for p in orders_for(sim, second.client_order_id)] == [used, used + 1]
    assert not bus.events("order.rejected")
    check_ledger(sim, bus, refused_ids=frozenset({used}))


def test_client_id_in_use_326_is_retried_with_the_same_client_id_until_it_connects(sim, bus, start_worker):
    start_worker(bus)
    ready_before = bus.count_ready()
    connecting_before = sum(1 for e in bus.events("gateway.status") if e.state == "connecting")
    sim.control.client_id_in_use(count=2)
    sim.control.drop_connections()
    wait_until(lambda: bus.count_ready() > ready_before, 15, what="connected after two 326 refusals")
    # Two refused attempts and the one that worked; the 326 may be read before or after the close.
    attempts = sum(1 for e in bus.events("gateway.status") if e.state == "connecting") - connecting_before
    assert attempts == 3
    assert any("326" in e.detail for e in bus.events("gateway.status")), [
        e.detail for e in bus.events("gateway.status")
    ]
    order = place(quantity="33")
    bus.send(order)
    bus.wait_event("order.status", client_order_id=order.client_order_id, status="Filled")
    assert {p["client_id"] for p in sim.ledger.snapshot()["place_orders"]} == {CLIENT_ID}
    check_ledger(sim, bus)


def test_working_orders_are_readopted_by_order_ref_after_a_restart(sim, bus, start_worker):
    first = start_worker(bus)
    orders = [place(quantity=str(40 + i), order_type="LMT", limit_price=Decimal("100"), tif="GTC") for i in range(3)]
    bus.send(*orders)
    for order in orders:
        bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    first.kill9()
    start_worker(bus)
    ready = [e for e in bus.events("gateway.status") if e.state == "ready"][-1]
    assert "reconciled 3 open orders" in ready.detail
    bus.send(m.OrderCancel(client_order_id=orders[0].client_order_id))
    bus.wait_event("order.status", client_order_id=orders[0].client_order_id, status="Cancelled")
    assert not bus.events("order.unknown")
    assert len(sim.ledger.snapshot()["place_orders"]) == 3
    check_ledger(sim, bus)


def test_the_kill_switch_refuses_queued_commands_cancels_working_orders_and_survives_restart(sim, bus, start_worker):
    first = start_worker(bus)
    working = [place(quantity=str(50 + i), order_type="LMT", limit_price=Decimal("100")) for i in range(3)]
    bus.send(*working)
    for order in working:
        bus.wait_event("order.status", client_order_id=order.client_order_id, status="Submitted")
    queued = [place(quantity=str(60 + i)) for i in range(5)]
    bus.send(*queued, m.TradingHalt(mode="cancel_all", reason="kill switch"))
    for order in queued:
        assert bus.wait_event("order.rejected", client_order_id=order.client_order_id).code == "risk.halted"
    for order in working:
        bus.wait_event("order.status", client_order_id=order.client_order_id, status="Cancelled")
    first.terminate()
    start_worker(bus)
    late = place(quantity="70")
    bus.send(late)
    assert bus.wait_event("order.rejected", client_order_id=late.client_order_id).code == "risk.halted"
    bus.send(m.TradingResume(reason="all clear"))
    resumed = place(quantity="71")
    bus.send(resumed)
    bus.wait_event("order.status", client_order_id=resumed.client_order_id, status="Filled")
    placed_refs = {p["order_ref"] for p in sim.ledger.snapshot()["place_orders"]}
    assert placed_refs == {o.client_order_id for o in [*working, resumed]}
    check_ledger(sim, bus)


def test_after_1101_data_lost_market_data_is_requested_again(sim, bus, start_worker):
    bus.set_limits(max_order_quantity=1000, allowed_symbols=["MSFT"])
    start_worker(bus)

    def latest_last():
        latest = bus.client.xrevrange(bus.names.md("MSFT"), count=1)
        return m.decode(latest[0][1]).last if latest else None

    sim.control.set_price("MSFT", 421.0)
    wait_until(lambda: latest_last() == Decimal("421"), 5, what="ticks before the outage")
    ready_before = bus.count_ready()
    sim.control.connectivity_lost(restore="lost", after=0.2)
    wait_until(lambda: bus.count_ready() > ready_before, 10, what="reconciled after 1101")
    sim.control.set_price("MSFT", 422.0)
    wait_until(lambda: latest_last() == Decimal("422"), 5, what="ticks after the subscription was renewed")
    # Reconciled on the same socket: no reconnect was needed to get the data back.
    assert _connects(bus) == 1
