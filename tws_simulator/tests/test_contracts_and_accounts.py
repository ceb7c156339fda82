"""reqContractDetails, reqMatchingSymbols, reqAccountUpdates(Multi), reqCompletedOrders and unsupported requests,
through the real ibapi client."""

from __future__ import annotations

import datetime as dt

import time_machine

from tws_simulator.market import con_id_for
from tws_simulator.tests.client import order, stock

NOW = dt.datetime(2026, 3, 7, 17, 0, tzinfo=dt.UTC)  # a Saturday


def details_of(app, req_id, contract):
    start = app.mark()
    app.reqContractDetails(req_id, contract)
    done = app.wait_for(lambda e: e[0] in ("contractDetailsEnd", "error") and e[1][0] == req_id, start=start)
    found = [a[1] for n, a in app.events[start:] if n == "contractDetails" and a[0] == req_id]
    return found, done


def test_contract_details_describe_the_stock_with_its_hours(app):
    with time_machine.travel(NOW, tick=False):
        [cd], done = details_of(app, 1, stock("AAPL"))
    assert done[0] == "contractDetailsEnd"
    c = cd.contract
    assert (c.symbol, c.secType, c.conId, c.exchange, c.currency, c.primaryExchange) == (
        "AAPL", "STK", con_id_for("AAPL"), "SMART", "USD", "NASDAQ"
    )  # fmt: skip
    assert (cd.minTick, cd.longName, cd.timeZoneId, cd.stockType) == (0.01, "APPLE INC", "US/Eastern", "COMMON")
    assert cd.tradingHours.split(";")[:3] == ["20260307:CLOSED", "20260308:CLOSED", "20260309:0400-20260309:2000"]
    assert cd.liquidHours.split(";")[2] == "20260309:0930-20260309:1600"
    by_con_id = stock("")
    by_con_id.conId = con_id_for("SPY")
    [spy], _ = details_of(app, 2, by_con_id)
    assert (spy.contract.symbol, spy.longName, spy.stockType) == ("SPY", "SPDR S&P 500 ETF TRUST", "ETF")


def test_an_unknown_contract_gets_200_and_no_end_marker(app):
    for req_id, contract in enumerate([stock("NOPE"), stock(""), _with(stock("AAPL"), currency="EUR")], start=5):
        found, done = details_of(app, req_id, contract)
        assert found == [] and done[0] == "error" and done[1][1:] == (
            200, "No security definition has been found for the request"
        )  # fmt: skip
    wrong_con_id = _with(stock("AAPL"), conId=con_id_for("MSFT"))
    assert details_of(app, 9, wrong_con_id)[1][1][1] == 200
    assert details_of(app, 10, stock("AAPL"))[1][0] == "contractDetailsEnd"


def _with(contract, **fields):
    for key, value in fields.items():
        setattr(contract, key, value)
    return contract


def test_matching_symbols_finds_by_prefix_then_by_substring_of_symbol_or_name(app):
    def samples(req_id, pattern):
        start = app.mark()
        app.reqMatchingSymbols(req_id, pattern)
        return app.wait_for(lambda e: e[0] == "symbolSamples" and e[1][0] == req_id, start=start)[1][1]

    found = samples(1, "a")
    # Prefix matches first, then symbols or names holding the text ("INTL BUSINESS MACHINES" for IBM).
    assert [s for s, _ in found] == ["AAPL", "AMZN", "IBM", "NVDA", "TSLA"]
    assert found[0] == ("AAPL", con_id_for("AAPL"))
    assert [s for s, _ in samples(2, "micro")] == ["MSFT"]
    assert [s for s, _ in samples(3, "QQ")] == ["QQQ"]
    assert samples(4, "zzz") == [] and samples(5, "") == []


def test_account_updates_download_values_and_the_portfolio_then_the_end(sim, app):
    app.placeOrder(1, stock("AAPL"), order("BUY", 100))
    app.wait_for(lambda e: e[0] == "orderStatus" and e[1][1] == "Filled")
    start = app.mark()
    app.reqAccountUpdates(True, "DU0000001")
    app.wait_for(lambda e: e[0] == "accountDownloadEnd", start=start)
    events = app.events[start:]
    names = [n for n, _ in events]
    assert names.index("updatePortfolio") < names.index("updateAccountTime") < names.index("accountDownloadEnd")
    values = {a[0]: a[1] for n, a in events if n == "updateAccountValue"}
    state = sim.control.state()
    assert values["AccountCode"] == "DU0000001"
    assert float(values["TotalCashValue"]) == round(state["cash"]["DU0000001"], 2)
    last = state["quotes"]["AAPL"]["last"]
    [portfolio] = [a for n, a in events if n == "updatePortfolio"]
    assert portfolio[:4] == ("AAPL", 100.0, last, 100 * last) and portfolio[5] == "DU0000001"
    start = app.mark()
    app.placeOrder(2, stock("AAPL"), order("SELL", 100))
    pushed = app.wait_for(lambda e: e[0] == "updatePortfolio", start=start)[1]
    assert pushed[:2] == ("AAPL", 0.0)  # the closed position, pushed without waiting for a refresh
    assert "accountDownloadEnd" not in [n for n, _ in app.events[start:]]
    start = app.mark()
    app.reqAccountUpdates(True, "DU9999999")
    assert app.wait_for(lambda e: e[0] == "error", start=start)[1][1] == 321
    app.reqAccountUpdates(False, "DU0000001")


def test_account_updates_multi_answers_values_then_its_end(app):
    app.reqAccountUpdatesMulti(4, "DU0000001", "", True)
    app.wait_name("accountUpdateMultiEnd")
    values = {a[3]: a[4] for n, a in app.events if n == "accountUpdateMulti"}
    assert values["AccountCode"] == "DU0000001" and float(values["NetLiquidation"]) > 0


def test_completed_orders_list_filled_and_cancelled_orders_but_not_working_ones(app):
    app.placeOrder(1, stock("AAPL"), order("BUY", 10))
    app.placeOrder(2, stock("AAPL"), order("BUY", 10, "LMT", 100.0))
    app.placeOrder(3, stock("MSFT"), order("BUY", 10, "LMT", 100.0))
    app.wait_for(lambda e: e[0] == "orderStatus" and e[1][:2] == (3, "Submitted"))
    app.cancelOrder(2)
    app.wait_for(lambda e: e[0] == "orderStatus" and e[1][:2] == (2, "Cancelled"))
    start = app.mark()
    app.reqCompletedOrders(False)
    app.wait_for(lambda e: e[0] == "completedOrdersEnd", start=start)
    done = [a for n, a in app.events[start:] if n == "completedOrder"]
    assert [(d[0], d[2], d[3], d[4]) for d in done] == [
        ("AAPL", 10.0, 10.0, "Filled"),
        ("AAPL", 10.0, 0.0, "Cancelled"),
    ]
    assert done[0][5].endswith(" UTC") and done[1][5] == ""


def test_a_request_the_simulator_does_not_serve_is_answered_with_321_naming_it(app):
    app.reqMktDepth(7, stock("AAPL"), 5, False, [])
    app.reqPnL(8, "DU0000001", "")
    app.reqScannerParameters()
    depth = app.wait_for(lambda e: e[0] == "error" and e[1][0] == 7)[1]
    pnl = app.wait_for(lambda e: e[0] == "error" and e[1][0] == 8)[1]
    scanner = app.wait_for(lambda e: e[0] == "error" and "reqScannerParameters" in e[1][2])[1]
    assert depth[1:] == (
        321,
        "Error validating request.-'bX' : cause - reqMktDepth is not supported by this simulated TWS",
    )
    assert pnl[1] == 321 and "reqPnL" in pnl[2] and scanner[0] == -1
    app.reqCurrentTime()
    app.wait_name("currentTime")
