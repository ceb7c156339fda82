"""End to end: the real ibapi 9.81 EClient over a socket: orders placed, filled, modified, cancelled and refused
as TWS does."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import time_machine

from tws_simulator.tests.client import (
    connect,
    disconnect,
    error,
    order,
    status,
    stock,
    wait_gone,
    wait_until,
)


def test_a_market_order_fills_at_the_touch_with_the_whole_lifecycle(sim, app):
    sim.control.set_price("AAPL", 100.0)
    app.placeOrder(1, stock("AAPL"), order("BUY", 300, ref="tc-1"))
    status(app, 1, "Filled")
    kinds = [(n, a[-1] if n == "openOrder" else a[1] if n == "orderStatus" else None) for n, a in app.events[5:]]
    assert kinds == [
        ("openOrder", "PreSubmitted"),
        ("orderStatus", "PreSubmitted"),
        ("openOrder", "Submitted"),
        ("orderStatus", "Submitted"),
        ("execDetails", None),
        ("openOrder", "Filled"),
        ("orderStatus", "Filled"),
    ] + ([("commissionReport", None)] if len(kinds) == 8 else [])
    app.wait_name("commissionReport")
    ex = app.named("execDetails")[0]
    assert ex[:7] == (-1, "AAPL", 1, ex[3], "BOT", 300.0, 100.01)
    assert ex[11:] == ("tc-1", "DU0000001")
    exec_id = ex[3]
    parts = exec_id.split(".")
    assert [len(p) for p in parts] == [8, 8, 2, 2]
    perm_ids = {a[7] for a in app.named("openOrder")} | {a[5] for a in app.named("orderStatus")} | {ex[7]}
    assert len(perm_ids) == 1 and 10**9 <= perm_ids.pop() < 2**31
    assert app.named("commissionReport")[0][:2] == (exec_id, 1.5)  # 300 * 0.005
    filled = app.named("orderStatus")[-1]
    assert filled[1:5] == ("Filled", 300.0, 0.0, 100.01)


def test_a_small_order_pays_the_one_dollar_minimum_commission(sim, app):
    app.placeOrder(1, stock("MSFT"), order("BUY", 10))
    assert app.wait_name("commissionReport")[1][1] == 1.0


def test_a_limit_order_rests_until_the_price_crosses(sim, app):
    sim.control.set_price("AAPL", 100.0)
    app.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 99.5))
    status(app, 1, "Submitted")
    time.sleep(0.1)
    assert not app.named("execDetails")
    sim.control.set_price("AAPL", 99.4)  # ask 99.41 <= 99.50
    status(app, 1, "Filled")
    assert app.named("execDetails")[0][6] == 99.41


def test_a_sell_stop_triggers_when_last_trades_through_it(sim, app):
    sim.control.set_price("IBM", 200.0)
    app.placeOrder(1, stock("IBM"), order("SELL", 50, "STP", aux=198.0))
    status(app, 1, "Submitted")
    sim.control.set_price("IBM", 198.5)
    time.sleep(0.1)
    assert not app.named("execDetails")
    sim.control.set_price("IBM", 197.9)
    status(app, 1, "Filled")
    assert app.named("execDetails")[0][4:7] == ("SLD", 50.0, 197.89)


def test_fills_come_in_configured_partials_each_with_its_own_exec_id(make_sim):
    sim = make_sim(partial_fills=3, partial_interval=0.01)
    app = connect(sim.port, 1)
    try:
        app.placeOrder(1, stock("AAPL"), order("BUY", 300))
        status(app, 1, "Filled")
        execs = app.named("execDetails")
        assert [e[5] for e in execs] == [100.0, 100.0, 100.0]
        assert [e[9] for e in execs] == [100.0, 200.0, 300.0]
        assert len({e[3] for e in execs}) == 3
        partial = [a for a in app.named("orderStatus") if a[1] == "Submitted" and a[2] > 0]
        assert [(a[2], a[3]) for a in partial] == [(100.0, 200.0), (200.0, 100.0)]
    finally:
        disconnect(app)


def test_cancel_of_a_working_order_goes_pending_cancel_then_cancelled_then_202(sim, app):
    app.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 1.0))
    status(app, 1, "Submitted")
    mark = app.mark()
    app.cancelOrder(1)
    error(app, 202, 1, start=mark)
    seq = [a[1] for n, a in app.events[mark:] if n == "orderStatus"]
    assert seq == ["PendingCancel", "Cancelled"]


def test_cancel_before_acknowledgement_is_api_cancelled(make_sim):
    sim = make_sim(submit_delay=0.5)
    app = connect(sim.port, 1)
    try:
        app.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 1.0))
        status(app, 1, "PreSubmitted")
        app.cancelOrder(1)
        status(app, 1, "ApiCancelled")
        time.sleep(0.6)
        assert not [a for a in app.named("orderStatus") if a[1] == "Submitted"]
    finally:
        disconnect(app)


def test_cancel_of_an_unknown_order_is_10147_and_of_a_filled_one_10148(sim, app):
    app.cancelOrder(77)
    assert "77" in error(app, 10147, 77)[1][2]
    app.placeOrder(1, stock("AAPL"), order("BUY", 1))
    status(app, 1, "Filled")
    app.cancelOrder(1)
    assert error(app, 10148, 1)[1][2].endswith("state: Filled.")


def test_an_order_id_that_was_used_before_is_a_duplicate(sim, app):
    app.placeOrder(5, stock("AAPL"), order("BUY", 1))
    status(app, 5, "Filled")
    app.placeOrder(5, stock("AAPL"), order("BUY", 1))
    error(app, 104, 5)  # the id is a filled order of this client: a modify of a filled order
    app.placeOrder(3, stock("AAPL"), order("BUY", 1))
    assert error(app, 103, 3)[1][2] == "Duplicate order ID."


def test_order_ids_persist_per_client_id_across_connections(sim, clients):
    a = clients(1)
    a.placeOrder(41, stock("AAPL"), order("BUY", 1))
    status(a, 41, "Filled")
    disconnect(a)
    wait_gone(sim, 1)
    b = clients(2)
    assert b.next_id == 1  # independent per clientId
    again = clients(1)
    assert again.next_id == 42
    again.reqIds(-1)
    assert again.wait_for(lambda e: e[0] == "nextValidId" and e is not again.events[1], start=2)[1] == (42,)


def test_placing_again_on_a_working_order_modifies_it(sim, app):
    sim.control.set_price("AAPL", 100.0)
    app.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 90.0))
    status(app, 1, "Submitted")
    mark = app.mark()
    app.placeOrder(1, stock("AAPL"), order("BUY", 200, "LMT", 95.0))
    oo = app.wait_for(lambda e: e[0] == "openOrder", start=mark)[1]
    assert (oo[3], oo[5], oo[-1]) == (200.0, 95.0, "Submitted")
    st = app.wait_for(lambda e: e[0] == "orderStatus", start=mark)[1]
    assert st[1:4] == ("Submitted", 0.0, 200.0)
    app.placeOrder(1, stock("AAPL"), order("SELL", 200, "LMT", 95.0))
    error(app, 105, 1)
    app.placeOrder(1, stock("AAPL"), order("BUY", 200, "LMT", 101.0))  # now marketable
    status(app, 1, "Filled")


def test_a_modify_without_the_price_its_type_needs_is_refused_and_the_order_keeps_working(sim, app):
    # A modify to LMT with no limit price once reached matching and failed there (a TypeError
    # the client saw as error 320); it is refused as a new order would be.
    sim.control.set_price("AAPL", 100.0)
    app.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 90.0))
    status(app, 1, "Submitted")
    mark = app.mark()
    app.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT"))
    assert "limit price must be positive" in error(app, 321, 1, start=mark)[1][2]
    assert not any(e[0] == "error" and e[1][1] == 320 for e in app.events[mark:])
    app.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 101.0))  # still working: now it fills
    status(app, 1, "Filled")


@pytest.mark.parametrize(
    ("contract_symbol", "the_order", "code"),
    [
        ("NOPE", order("BUY", 1), 200),
        ("AAPL", order("BUY", 1, "LMT", 100.005), 110),
        ("AAPL", order("BUY", 1, plain=False), 10268),
        ("AAPL", order("BUY", 0), 321),
        ("AAPL", order("BUY", 1, "TRAIL LIMIT", 100.0), 321),
        ("AAPL", order("BUY", 1, account="DU9999999"), 321),
    ],
)
def test_bad_orders_are_refused_with_the_tws_code_and_create_nothing(sim, app, contract_symbol, the_order, code):
    app.placeOrder(1, stock(contract_symbol), the_order)
    error(app, code, 1)
    time.sleep(0.05)
    assert not app.named("openOrder")
    app.placeOrder(1, stock("AAPL"), order("BUY", 1))  # the id was not consumed
    status(app, 1, "Filled")


def test_firm_quote_only_left_true_is_10269(sim, app):
    o = order("BUY", 1)
    o.firmQuoteOnly = True
    app.placeOrder(1, stock("AAPL"), o)
    assert error(app, 10269, 1)[1][2] == "The 'FirmQuoteOnly' order attribute is not supported."


def test_with_several_accounts_an_order_must_name_one(make_sim):
    sim = make_sim(accounts=["DU0000001", "DU0000002"])
    app = connect(sim.port, 1)
    try:
        assert app.events[0] == ("managedAccounts", ("DU0000001,DU0000002",))
        app.placeOrder(1, stock("AAPL"), order("BUY", 1))
        assert "You must specify an account." in error(app, 321, 1)[1][2]
        app.placeOrder(2, stock("AAPL"), order("BUY", 1, account="DU0000002"))
        assert app.wait_name("execDetails")[1][12] == "DU0000002"
    finally:
        disconnect(app)


def test_transmit_false_holds_the_order_unreported_until_it_is_sent_again_with_transmit(sim, app):
    o = order("BUY", 10)
    o.transmit = False
    app.placeOrder(1, stock("AAPL"), o)
    time.sleep(0.2)
    assert not app.named("openOrder") and not app.named("orderStatus") and not app.named("execDetails")
    app.reqOpenOrders()
    app.wait_name("openOrderEnd")
    assert not app.named("openOrder")
    app.placeOrder(1, stock("AAPL"), order("BUY", 10))
    status(app, 1, "Filled")


def test_an_order_beyond_the_accounts_margin_is_rejected_201_and_inactive(sim, app):
    sim.control.set_price("SPY", 500.0)
    app.placeOrder(1, stock("SPY"), order("BUY", 9000, "LMT", 500.0))  # 4.5M gross on 1M equity
    assert "INITIAL MARGIN" in error(app, 201, 1)[1][2]
    status(app, 1, "Inactive")
    app.placeOrder(2, stock("SPY"), order("BUY", 7000, "LMT", 501.0))
    status(app, 2, "Filled")


def test_a_stop_limit_becomes_a_limit_once_triggered(sim, app):
    sim.control.set_price("AAPL", 100.0)
    app.placeOrder(1, stock("AAPL"), order("BUY", 10, "STP LMT", 101.0, aux=100.5))
    status(app, 1, "Submitted")
    sim.control.set_price("AAPL", 102.0)  # triggers, but the ask 102.01 is above the 101.00 limit
    time.sleep(0.1)
    assert not app.named("execDetails")
    sim.control.set_price("AAPL", 100.9)
    status(app, 1, "Filled")
    assert app.named("execDetails")[0][6] == 100.91


def test_resting_orders_fill_as_the_price_path_crosses_them(make_sim):
    # The path is a function of the clock: pinned, the market stands still until the test moves time on.
    with time_machine.travel(dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC), tick=False) as clock:
        sim = make_sim(market_interval=0.01, volatility_ticks=20)
        app = connect(sim.port, 1)
        try:
            quote = sim.control.state()["quotes"]["AAPL"]
            app.placeOrder(1, stock("AAPL"), order("BUY", 10, "LMT", round(quote["bid"] - 0.05, 2)))
            app.placeOrder(2, stock("AAPL"), order("SELL", 10, "LMT", round(quote["ask"] + 0.05, 2)))
            status(app, 2, "Submitted")
            filled: set[int] = set()
            for _ in range(200):
                clock.shift(30)
                market = sim.engine.market
                on_path = market.round_tick(market.path_price("AAPL", time.time()), 0.01)
                wait_until(lambda p=on_path: sim.control.state()["quotes"]["AAPL"]["last"] == p, 2.0, "a market step")
                filled = {o["order_id"] for o in sim.control.state()["orders"] if o["status"] == "Filled"}
                if filled == {1, 2}:
                    break
            assert filled == {1, 2}
            status(app, 1, "Filled")
            status(app, 2, "Filled")
        finally:
            disconnect(app)
