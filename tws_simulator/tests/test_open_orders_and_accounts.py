"""End to end: the real ibapi 9.81 EClient over a socket: open orders across clients, positions, account
summaries and executions."""

from __future__ import annotations

import time

import pytest

from tws_simulator.tests.client import (
    connect,
    disconnect,
    error,
    execution_filter,
    order,
    status,
    stock,
    wait_gone,
)


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
