"""End to end: every fault of the control API, seen through the real ibapi 9.81 EClient."""

from __future__ import annotations

import time

import pytest

from tws_simulator.tests.client import connect, disconnect, error, execution_filter, order, status, stock, wait_gone


def statuses(app, order_id):
    return [a[1] for a in app.named("orderStatus") if a[0] == order_id]


def test_dropped_connections_are_seen_by_the_client_and_it_can_come_back(sim, clients):
    app = clients(1)
    other = clients(2)
    app.placeOrder(1, stock("AAPL"), order("BUY", 1))
    status(app, 1, "Filled")
    assert sim.control.drop_connections(client_id=1) == 1
    assert app.closed.wait(3)
    assert not other.closed.is_set()
    wait_gone(sim, 1)
    again = clients(1)
    assert again.next_id == 2


def test_refused_connections_give_502_and_listening_resumes(sim, clients):
    sim.control.refuse_connections(True)
    app = connect(sim.port, 1, wait_ready=False)
    error(app, 502, -1)
    assert not app.isConnected()
    sim.control.refuse_connections(False)
    assert clients(1).next_id == 1


def test_a_hung_handshake_blocks_connect_until_the_watchdog_gives_up(sim, clients):
    sim.control.hang_handshake(True)
    with pytest.raises(AssertionError, match="did not return"):
        connect(sim.port, 1, timeout=1.0)
    sim.control.hang_handshake(False)
    assert clients(1).next_id == 1


def test_client_id_in_use_fault_answers_326_whatever_the_id(sim, clients):
    sim.control.client_id_in_use(1)
    app = connect(sim.port, 9, wait_ready=False)
    error(app, 326, -1)
    assert app.closed.wait(3)
    assert clients(9).next_id == 1


def test_connectivity_loss_then_restoration_with_data_maintained(sim, app):
    sim.control.connectivity_lost(restore="maintained", after=0.1)
    error(app, 1100, -1)
    error(app, 1102, -1)


def test_connectivity_restored_with_data_lost_drops_market_data(make_sim):
    sim = make_sim(market_interval=0.02)
    app = connect(sim.port, 1)
    try:
        app.reqMktData(1, stock("AAPL"), "", False, False, [])
        app.wait_name("tickPrice")
        sim.control.connectivity_lost(restore=None)
        error(app, 1100, -1)
        sim.control.connectivity_restored("lost")
        error(app, 1101, -1)
        time.sleep(0.1)
        count = len(app.named("tickPrice"))
        time.sleep(0.15)
        assert len(app.named("tickPrice")) == count
    finally:
        disconnect(app)


def test_a_farm_flap_is_2103_then_2104(sim, app):
    mark = app.mark()
    sim.control.farm_flap(down_for=0.1)
    error(app, 2103, -1, start=mark)
    error(app, 2104, -1, start=mark)


def test_reject_next_order_is_201_and_inactive(sim, app):
    sim.control.reject_next_order(reason="Insufficient margin")
    app.placeOrder(1, stock("AAPL"), order("BUY", 1))
    assert error(app, 201, 1)[1][2] == "Order rejected - reason:Insufficient margin"
    status(app, 1, "Inactive")
    app.placeOrder(2, stock("AAPL"), order("BUY", 1))
    status(app, 2, "Filled")


def test_fill_next_order_fills_a_limit_far_from_the_market(sim, app):
    sim.control.fill_next_order(price=1.23)
    app.placeOrder(1, stock("AAPL"), order("BUY", 10, "LMT", 1.0))
    status(app, 1, "Filled")
    assert app.named("execDetails")[0][6] == 1.23


def test_a_partially_filled_order_can_be_cancelled_with_its_fill_kept(sim, app):
    sim.control.partially_fill_next_order(quantity=40)
    app.placeOrder(1, stock("AAPL"), order("BUY", 100))
    app.wait_for(lambda e: e[0] == "orderStatus" and e[1][1] == "Submitted" and e[1][2] == 40.0)
    time.sleep(0.05)
    assert len(app.named("execDetails")) == 1
    app.cancelOrder(1)
    cancelled = status(app, 1, "Cancelled")[1]
    assert cancelled[2:4] == (40.0, 60.0)
    assert sim.control.state()["positions"][0]["quantity"] == 40.0


def test_fill_order_fills_a_resting_order_on_demand(sim, app):
    app.placeOrder(1, stock("AAPL"), order("SELL", 100, "LMT", 999.0))
    status(app, 1, "Submitted")
    result = sim.control.fill_order(client_id=1, order_id=1, quantity=30, price=999.5)
    assert result["shares"] == 30
    app.wait_for(lambda e: e[0] == "orderStatus" and e[1][2] == 30.0)
    with pytest.raises(KeyError):
        sim.control.fill_order(client_id=1, order_id=99)


def test_dropped_status_messages_are_missing_and_the_rest_arrive(sim, app):
    sim.control.drop_status_messages(1)
    app.placeOrder(1, stock("AAPL"), order("BUY", 1))
    status(app, 1, "Filled")
    assert statuses(app, 1) == ["Submitted", "Filled"]


def test_duplicated_status_messages_arrive_twice(sim, app):
    sim.control.duplicate_status_messages(1)
    app.placeOrder(1, stock("AAPL"), order("BUY", 1))
    status(app, 1, "Filled")
    assert statuses(app, 1) == ["PreSubmitted", "PreSubmitted", "Submitted", "Filled"]


def test_reordered_status_messages_arrive_out_of_order(sim, app):
    sim.control.reorder_status_messages(1)
    app.placeOrder(1, stock("AAPL"), order("BUY", 1, "LMT", 1.0))
    app.wait_for(lambda e: len(statuses(app, 1)) == 2)
    assert statuses(app, 1) == ["Submitted", "PreSubmitted"]


def test_delayed_replies_arrive_late_and_in_order(sim, app):
    sim.control.delay_replies(0.3)
    mark = app.mark()
    started = time.monotonic()
    app.reqCurrentTime()
    app.reqManagedAccts()
    app.wait_name("managedAccounts", start=mark)
    assert time.monotonic() - started >= 0.28
    assert [n for n, _ in app.events[mark:]] == ["currentTime", "managedAccounts"]
    sim.control.delay_replies(0)


def test_a_rolled_back_next_valid_id_invites_a_duplicate_order_id(sim, clients):
    app = clients(1)
    app.placeOrder(5, stock("AAPL"), order("BUY", 1))
    status(app, 5, "Filled")
    assert sim.control.roll_back_next_valid_id(1, by=2) == 4
    app.reqIds(-1)
    app.wait_for(lambda e: e == ("nextValidId", (4,)))
    app.placeOrder(4, stock("AAPL"), order("BUY", 1))
    error(app, 103, 4)


def test_restart_keeping_state_keeps_ids_and_working_orders(sim, clients):
    app = clients(1)
    app.placeOrder(3, stock("AAPL"), order("BUY", 100, "LMT", 1.0))
    status(app, 3, "Submitted")
    sim.control.restart(keep_state=True, down_for=0.2)
    assert app.closed.wait(3)
    again = clients(1)
    assert again.next_id == 4
    again.wait_name("openOrder")


def test_restart_losing_state_forgets_ids_and_orders(sim, clients):
    app = clients(1)
    app.placeOrder(3, stock("AAPL"), order("BUY", 100, "LMT", 1.0))
    status(app, 3, "Submitted")
    sim.control.restart(keep_state=False)
    assert app.closed.wait(3)
    again = clients(1)
    assert again.next_id == 1
    time.sleep(0.1)
    assert not again.named("openOrder")


def test_forcing_a_burst_onto_the_4096_boundary_loses_it_in_ibapi_and_switching_it_off_restores_delivery(sim, app):
    sim.control.set_price("AAPL", 100.0)
    sim.control.force_4096_boundary(True)
    mark = app.mark()
    app.placeOrder(1, stock("AAPL"), order("BUY", 10, "LMT", 99.0))  # its four replies leave as one burst
    with pytest.raises(AssertionError):
        app.wait_name("orderStatus", timeout=1.5, start=mark)
    assert sim.control.state()["orders"][0]["status"] == "Submitted"
    sim.control.force_4096_boundary(False)
    app.placeOrder(2, stock("AAPL"), order("BUY", 10, "LMT", 99.0))
    status(app, 2, "Submitted", start=mark)
    assert not [e for e in app.events[mark:] if e[0] == "orderStatus" and e[1][0] == 1]


def test_an_external_order_fill_shows_in_executions_and_positions(sim, clients):
    app = clients(1)
    result = sim.control.inject_external_fill("DU0000001", "MSFT", "BUY", 25, price=420.5)
    assert result["perm_id"] > 0 and result["price"] == 420.5
    time.sleep(0.05)
    assert not app.named("execDetails")  # live only to clientId 0
    app.reqExecutions(1, execution_filter())
    app.wait_name("execDetailsEnd")
    ex = app.named("execDetails")[0]
    assert (ex[2], ex[7], ex[11], ex[5]) == (0, result["perm_id"], "", 25.0)
    app.reqPositions()
    app.wait_name("positionEnd")
    assert app.named("position") == [("DU0000001", "MSFT", 25.0, pytest.approx(420.54))]
    master = clients(0)
    sim.control.inject_external_fill("DU0000001", "MSFT", "SELL", 5)
    assert master.wait_name("execDetails")[1][2] == 0


def test_the_ledger_has_every_place_order_with_its_arrival_time_and_every_execution(sim, app):
    before = time.time_ns()
    app.placeOrder(1, stock("AAPL"), order("BUY", 10, ref="tc-a"))
    app.placeOrder(2, stock("MSFT"), order("SELL", 5, "LMT", 999.0, ref="tc-b"))
    status(app, 1, "Filled")
    status(app, 2, "Submitted")
    ledger = sim.control.ledger()
    got = [
        (p["order_id"], p["order_ref"], p["client_id"], p["symbol"], p["action"], p["quantity"])
        for p in ledger["place_orders"]
    ]
    assert got == [(1, "tc-a", 1, "AAPL", "BUY", 10.0), (2, "tc-b", 1, "MSFT", "SELL", 5.0)]
    assert all(before <= p["arrived_ns"] <= time.time_ns() for p in ledger["place_orders"])
    assert [(e["order_id"], e["order_ref"], e["shares"]) for e in ledger["executions"]] == [(1, "tc-a", 10.0)]
    assert sim.ledger.place_orders[0]["lmt_price"] is None and sim.ledger.place_orders[1]["lmt_price"] == 999.0


def test_an_execution_correction_repeats_the_fill_under_the_next_exec_id_revision(sim, app):
    app.placeOrder(1, stock("AAPL"), order("BUY", 10))
    status(app, 1, "Filled")
    first = app.named("execDetails")[0]
    result = sim.control.correct_execution()
    assert result == {"exec_id": first[3][:-2] + "02", "correction_of": first[3]}
    corrected = app.wait_for(lambda e: e[0] == "execDetails" and e[1][3] == result["exec_id"])[1]
    assert corrected[2] == 1 and corrected[5:7] == first[5:7]
    app.wait_for(lambda e: e[0] == "commissionReport" and e[1][0] == result["exec_id"])
    mark = app.mark()
    app.reqExecutions(3, execution_filter())
    app.wait_name("execDetailsEnd", start=mark)
    assert [a[3] for n, a in app.events[mark:] if n == "execDetails"] == [result["exec_id"]]
