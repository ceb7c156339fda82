"""End to end: the real ibapi 9.81 EClient over a socket, one test per request and broker behaviour."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import time_machine

from tws_simulator.tests.client import connect, disconnect, execution_filter, order, stock, wait_gone, wait_until


def status(app, order_id, wanted, timeout=5.0, start=0):
    return app.wait_for(lambda e: e[0] == "orderStatus" and e[1][0] == order_id and e[1][1] == wanted, timeout, start)


def error(app, code, req_id=None, timeout=5.0, start=0):
    return app.wait_for(
        lambda e: e[0] == "error" and e[1][1] == code and (req_id is None or e[1][0] == req_id), timeout, start
    )


def test_connect_sends_accounts_then_next_valid_id_then_farm_notices(clients):
    app = clients(3)
    names = [(n, a) for n, a in app.events[:5]]
    assert names[0] == ("managedAccounts", ("DU0000001",))
    assert names[1] == ("nextValidId", (1,))
    assert [a[1] for n, a in names[2:]] == [2104, 2106, 2158]


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


def test_open_orders_come_back_on_request_and_on_reconnect(sim, clients):
    a = clients(1)
    a.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 1.0, ref="keep"))
    status(a, 1, "Submitted")
    mark = a.mark()
    a.reqOpenOrders()
    a.wait_name("openOrderEnd", start=mark)
    assert [n for n, _ in a.events[mark:]] == ["openOrder", "orderStatus", "openOrderEnd"]
    assert [args[6] for args in a.named("openOrder")][-1] == "keep"
    disconnect(a)
    wait_gone(sim, 1)
    b = clients(1)
    b.wait_name("openOrder")
    names = [n for n, _ in b.events[:6]]
    assert names[:4] == ["managedAccounts", "nextValidId", "openOrder", "orderStatus"]
    assert b.named("orderStatus")[0][1] == "Submitted"


def test_req_all_open_orders_shows_every_clients_working_orders(sim, clients):
    a = clients(1)
    b = clients(2)
    a.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 1.0))
    b.placeOrder(1, stock("MSFT"), order("BUY", 100, "LMT", 1.0))
    status(a, 1, "Submitted")
    status(b, 1, "Submitted")
    mark = a.mark()
    a.reqOpenOrders()
    a.wait_name("openOrderEnd", start=mark)
    assert {x[1][8] for x in a.events[mark:] if x[0] == "openOrder"} == {1}
    mark = a.mark()
    a.reqAllOpenOrders()
    a.wait_name("openOrderEnd", start=mark)
    assert {x[1][8] for x in a.events[mark:] if x[0] == "openOrder"} == {1, 2}


def test_global_cancel_cancels_every_clients_working_orders(sim, clients):
    a = clients(1)
    b = clients(2)
    a.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 1.0))
    b.placeOrder(7, stock("MSFT"), order("BUY", 100, "LMT", 1.0))
    status(a, 1, "Submitted")
    status(b, 7, "Submitted")
    a.reqGlobalCancel()
    status(a, 1, "Cancelled")
    status(b, 7, "Cancelled")
    error(b, 202, 7)


def test_positions_arrive_on_request_then_as_they_change_until_cancelled(sim, app):
    sim.control.set_price("AAPL", 100.0)
    app.placeOrder(1, stock("AAPL"), order("BUY", 100))
    status(app, 1, "Filled")
    time.sleep(0.05)
    assert not app.named("position")  # positions only on request
    app.reqPositions()
    app.wait_name("positionEnd")
    # 100 @ 100.01 plus the $1 commission in the average cost
    assert app.named("position") == [("DU0000001", "AAPL", 100.0, pytest.approx(100.02))]
    app.placeOrder(2, stock("AAPL"), order("SELL", 100))
    app.wait_for(lambda e: e[0] == "position" and e[1][2] == 0.0)
    app.cancelPositions()
    time.sleep(0.05)
    count = len(app.named("position"))
    app.placeOrder(3, stock("AAPL"), order("BUY", 5))
    status(app, 3, "Filled")
    time.sleep(0.1)
    assert len(app.named("position")) == count


def test_a_closing_fill_reports_realized_pnl_in_its_commission_report(sim, app):
    sim.control.set_price("AAPL", 100.0)
    app.placeOrder(1, stock("AAPL"), order("BUY", 100))
    status(app, 1, "Filled")
    sim.control.set_price("AAPL", 110.0)
    app.placeOrder(2, stock("AAPL"), order("SELL", 100))
    status(app, 2, "Filled")
    app.wait_for(lambda e: e[0] == "commissionReport" and e[1][2] < 1e300)
    # bought at 100.01 (+1 commission), sold at 109.99 (-1 commission)
    assert app.named("commissionReport")[-1][2] == pytest.approx((109.99 - 100.02) * 100 - 1.0)


def test_account_summary_reports_every_tag_and_moves_with_fills(sim, app):
    tags = "NetLiquidation,TotalCashValue,BuyingPower,AvailableFunds,GrossPositionValue,UnrealizedPnL,RealizedPnL"
    tags += ",AccountType"
    app.reqAccountSummary(9, "All", tags)
    app.wait_name("accountSummaryEnd")
    values = {a[2]: (a[3], a[4]) for a in app.named("accountSummary")}
    assert values["TotalCashValue"] == ("1000000.00", "USD")
    assert values["NetLiquidation"] == ("1000000.00", "USD")
    assert values["AccountType"] == ("INDIVIDUAL", "")
    assert len(values) == 8
    app.cancelAccountSummary(9)
    sim.control.set_price("AAPL", 100.0)
    app.placeOrder(1, stock("AAPL"), order("BUY", 1000))
    status(app, 1, "Filled")
    sim.control.set_price("AAPL", 105.0)
    mark = app.mark()
    app.reqAccountSummary(10, "All", "$LEDGER")
    app.wait_name("accountSummaryEnd", start=mark)
    now = {a[2]: float(a[3]) for n, a in app.events[mark:] if n == "accountSummary"}
    cash = 1_000_000 - 1000 * 100.01 - 5.0
    assert now["TotalCashValue"] == pytest.approx(cash)
    assert now["GrossPositionValue"] == pytest.approx(105_000.0)
    assert now["NetLiquidation"] == pytest.approx(cash + 105_000.0)
    assert now["UnrealizedPnL"] == pytest.approx(105_000.0 - 100_015.0)


def test_a_third_account_summary_subscription_is_refused_with_322(sim, app):
    app.reqAccountSummary(1, "All", "NetLiquidation")
    app.reqAccountSummary(2, "All", "NetLiquidation")
    app.reqAccountSummary(3, "All", "NetLiquidation")
    error(app, 322, 3)


def test_account_summary_subscriptions_are_refreshed_periodically(make_sim):
    sim = make_sim(account_summary_interval=0.2)
    app = connect(sim.port, 1)
    try:
        app.reqAccountSummary(4, "All", "NetLiquidation")
        first = app.wait_name("accountSummaryEnd")
        app.wait_for(lambda e: e[0] == "accountSummaryEnd" and e is not first, timeout=3.0)
    finally:
        disconnect(app)


def test_executions_come_only_on_request_filtered_with_their_commissions(sim, clients):
    a = clients(1)
    a.placeOrder(1, stock("AAPL"), order("BUY", 10))
    a.placeOrder(2, stock("MSFT"), order("SELL", 20))
    status(a, 2, "Filled")
    b = clients(2)
    b.placeOrder(1, stock("AAPL"), order("BUY", 30))
    status(b, 1, "Filled")
    a.reqExecutions(5, execution_filter())
    a.wait_for(lambda e: e[0] == "execDetailsEnd" and e[1] == (5,))
    req = [e for e in a.named("execDetails") if e[0] == 5]
    assert len(req) == 3
    assert len(a.named("commissionReport")) == 2 + 3
    mark = a.mark()
    a.reqExecutions(6, execution_filter(clientId=1, symbol="MSFT", side="SELL"))
    a.wait_for(lambda e: e[0] == "execDetailsEnd" and e[1] == (6,), start=mark)
    got = [args for n, args in a.events[mark:] if n == "execDetails"]
    assert [(g[1], g[4], g[5]) for g in got] == [("MSFT", "SLD", 20.0)]
    mark = a.mark()
    a.reqExecutions(7, execution_filter(time="20990101-00:00:00"))
    a.wait_for(lambda e: e[0] == "execDetailsEnd" and e[1] == (7,), start=mark)
    assert not [n for n, _ in a.events[mark:] if n == "execDetails"]


def test_market_data_streams_bid_ask_last_and_sizes_until_cancelled(make_sim):
    sim = make_sim(market_interval=0.02)
    app = connect(sim.port, 1)
    try:
        app.reqMktData(11, stock("AAPL"), "", False, False, [])
        app.wait_for(lambda e: e[0] == "marketDataType" and e[1] == (11, 1))
        for tick in (1, 2, 4):
            app.wait_for(lambda e, t=tick: e[0] == "tickPrice" and e[1][:2] == (11, t))
        for tick in (0, 3, 5, 8):
            app.wait_for(lambda e, t=tick: e[0] == "tickSize" and e[1][:2] == (11, t))
        app.wait_for(lambda e: e[0] == "tickString" and e[1][:2] == (11, 45))
        time.sleep(0.2)
        assert len([e for e in app.named("tickPrice") if e[1] == 1]) > 2  # streaming
        bids = [e[2] for e in app.named("tickPrice") if e[1] == 1]
        asks = [e[2] for e in app.named("tickPrice") if e[1] == 2]
        assert all(b < a for b, a in zip(bids, asks, strict=False))
        app.cancelMktData(11)
        time.sleep(0.1)
        count = len(app.named("tickPrice"))
        time.sleep(0.2)
        assert len(app.named("tickPrice")) == count
    finally:
        disconnect(app)


def test_a_snapshot_sends_one_round_then_snapshot_end(sim, app):
    app.reqMktData(12, stock("MSFT"), "", True, False, [])
    app.wait_for(lambda e: e[0] == "tickSnapshotEnd" and e[1] == (12,))
    assert len(app.named("tickPrice")) == 3


def test_market_data_for_an_unknown_symbol_is_200_and_a_duplicate_ticker_322(sim, app):
    app.reqMktData(13, stock("NOPE"), "", False, False, [])
    error(app, 200, 13)
    app.reqMktData(14, stock("AAPL"), "", False, False, [])
    app.reqMktData(14, stock("AAPL"), "", False, False, [])
    error(app, 322, 14)


def test_without_a_subscription_live_data_is_354_and_delayed_data_is_10167(make_sim):
    sim = make_sim(market_data_subscribed=False)
    app = connect(sim.port, 1)
    try:
        app.reqMktData(1, stock("AAPL"), "", False, False, [])
        error(app, 354, 1)
        app.reqMarketDataType(3)
        app.reqMktData(2, stock("AAPL"), "", False, False, [])
        error(app, 10167, 2)
        app.wait_for(lambda e: e[0] == "tickPrice" and e[1][:2] == (2, 66))
        app.wait_for(lambda e: e[0] == "tickSize" and e[1][:2] == (2, 69))
    finally:
        disconnect(app)


def test_current_time_and_managed_accounts_on_request(sim, app):
    app.reqCurrentTime()
    assert abs(app.wait_name("currentTime")[1][0] - time.time()) < 5
    mark = app.mark()
    app.reqManagedAccts()
    assert app.wait_name("managedAccounts", start=mark)[1] == ("DU0000001",)


def test_a_client_id_in_use_is_refused_with_326_and_closed(sim, clients):
    clients(4)
    second = connect(sim.port, 4, wait_ready=False)
    try:
        error(second, 326, -1)
        assert second.closed.wait(3)
        assert not second.named("nextValidId")
    finally:
        disconnect(second)


def test_more_than_fifty_messages_a_second_get_error_100(sim, app):
    for _ in range(80):
        app.reqCurrentTime()
    error(app, 100, -1)
    time.sleep(0.2)
    assert 45 <= len(app.named("currentTime")) <= 60


def test_a_client_connecting_with_paceapi_is_paced_not_refused(sim, clients):
    app = clients(1, options="+PACEAPI")
    started = time.monotonic()
    for _ in range(70):
        app.reqCurrentTime()
    app.wait_for(lambda e: len(app.named("currentTime")) >= 70, timeout=5.0)
    assert time.monotonic() - started >= 0.3  # the 20 over the burst took 20 ms each
    assert not [a for a in app.named("error") if a[1] == 100]


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


def test_a_cancelled_account_summary_is_no_longer_refreshed(make_sim):
    sim = make_sim(account_summary_interval=0.05)
    app = connect(sim.port, 1)
    try:
        app.reqAccountSummary(4, "All", "NetLiquidation")
        app.wait_for(lambda e: len(app.named("accountSummaryEnd")) >= 2, timeout=3.0)
        app.cancelAccountSummary(4)
        time.sleep(0.15)
        count = len(app.named("accountSummaryEnd"))
        time.sleep(0.2)
        assert len(app.named("accountSummaryEnd")) == count
    finally:
        disconnect(app)


def test_a_client_that_keeps_breaking_the_pacing_limit_is_disconnected_when_configured(make_sim):
    sim = make_sim(pacing_disconnect_after=3)
    app = connect(sim.port, 1)
    try:
        for _ in range(60):
            try:
                app.reqCurrentTime()
            except (BrokenPipeError, ConnectionResetError):
                # Disconnected before ibapi's reader noticed: the outcome under test, reached early.
                break
        assert app.closed.wait(3)
        assert len([a for a in app.named("error") if a[1] == 100]) >= 1
    finally:
        disconnect(app)


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
