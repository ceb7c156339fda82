"""A session of the ibapi-stable 10.x client against a running simulator; run by test_ibapi10.py.

Usage: <ibapi 10 python> ibapi10_session.py PORT. It imports only ``ibapi`` (10.x) and prints one JSON
object with what the client received; every wait is bounded and the script exits on its own.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.execution import ExecutionFilter
from ibapi.order import Order
from ibapi.order_cancel import OrderCancel
from ibapi.wrapper import EWrapper


class App(EWrapper, EClient):
    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.seen: dict[str, list] = {}
        self.cond = threading.Condition()

    def _add(self, name: str, *values) -> None:
        with self.cond:
            self.seen.setdefault(name, []).append(
                [str(v) if not isinstance(v, int | float | str) else v for v in values]
            )
            self.cond.notify_all()

    def wait(self, name: str, pred=lambda v: True, timeout: float = 5.0) -> list:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for values in self.seen.get(name, []):
                    if pred(values):
                        return values
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SystemExit(json.dumps({"timeout": name, "seen": sorted(self.seen)}))
                self.cond.wait(left)

    def nextValidId(self, orderId):
        self._add("nextValidId", orderId)

    def managedAccounts(self, accountsList):
        self._add("managedAccounts", accountsList)

    def error(self, reqId, errorTime, errorCode, errorString, advancedOrderRejectJson=""):
        self._add("error", reqId, errorCode, errorString)

    def openOrder(self, orderId, contract, order, orderState):
        self._add("openOrder", orderId, contract.symbol, order.orderRef, orderState.status)

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId, *rest):
        self._add("orderStatus", orderId, status, float(filled), float(remaining), avgFillPrice, permId)

    def execDetails(self, reqId, contract, execution):
        self._add("execDetails", reqId, contract.symbol, execution.execId, float(execution.shares), execution.price)

    def execDetailsEnd(self, reqId):
        self._add("execDetailsEnd", reqId)

    def commissionAndFeesReport(self, report):
        self._add("commission", report.execId, report.commissionAndFees)

    def position(self, account, contract, position, avgCost):
        self._add("position", account, contract.symbol, float(position), avgCost)

    def positionEnd(self):
        self._add("positionEnd")

    def accountSummary(self, reqId, account, tag, value, currency):
        self._add("accountSummary", reqId, account, tag, value, currency)

    def accountSummaryEnd(self, reqId):
        self._add("accountSummaryEnd", reqId)

    def tickPrice(self, reqId, tickType, price, attrib):
        self._add("tickPrice", reqId, tickType, price)

    def tickSize(self, reqId, tickType, size):
        self._add("tickSize", reqId, tickType, float(size))

    def currentTime(self, t):
        self._add("currentTime", t)


def stock(symbol: str) -> Contract:
    c = Contract()
    c.symbol, c.secType, c.exchange, c.currency = symbol, "STK", "SMART", "USD"
    return c


def order(action: str, qty: int, order_type: str = "MKT", lmt: float | None = None, ref: str = "") -> Order:
    o = Order()
    o.action, o.totalQuantity, o.orderType, o.orderRef = action, qty, order_type, ref
    if lmt is not None:
        o.lmtPrice = lmt
    return o


def main(port: int) -> dict:
    app = App()
    done = threading.Event()
    threading.Thread(target=lambda: (app.connect("127.0.0.1", port, 21), done.set()), daemon=True).start()
    if not done.wait(5):
        raise SystemExit(json.dumps({"timeout": "connect"}))
    threading.Thread(target=app.run, daemon=True).start()
    out: dict = {"server_version": app.serverVersion()}
    out["nextValidId"] = app.wait("nextValidId")[0]
    out["managedAccounts"] = app.wait("managedAccounts")[0]
    oid = out["nextValidId"]
    app.placeOrder(oid, stock("AAPL"), order("BUY", 100, ref="v10-1"))
    out["filled"] = app.wait("orderStatus", lambda v: v[0] == oid and v[1] == "Filled")
    out["execDetails"] = app.wait("execDetails", lambda v: v[0] == -1)
    out["commission"] = app.wait("commission")
    app.placeOrder(oid + 1, stock("MSFT"), order("BUY", 10, "LMT", 1.0, ref="v10-2"))
    app.wait("orderStatus", lambda v: v[0] == oid + 1 and v[1] == "Submitted")
    app.cancelOrder(oid + 1, OrderCancel())
    out["cancelled"] = app.wait("orderStatus", lambda v: v[0] == oid + 1 and v[1] == "Cancelled")
    out["cancel_error"] = app.wait("error", lambda v: v[1] == 202)
    app.cancelOrder(9999, OrderCancel())
    out["unknown_cancel"] = app.wait("error", lambda v: v[1] == 10147)
    app.reqPositions()
    app.wait("positionEnd")
    out["positions"] = app.seen.get("position", [])
    app.reqAccountSummary(3, "All", "NetLiquidation,TotalCashValue")
    app.wait("accountSummaryEnd")
    out["accountSummary"] = app.seen.get("accountSummary", [])
    app.reqExecutions(4, ExecutionFilter())
    app.wait("execDetailsEnd", lambda v: v[0] == 4)
    out["executions"] = [v for v in app.seen["execDetails"] if v[0] == 4]
    app.reqMktData(5, stock("AAPL"), "", True, False, [])
    out["tickPrice"] = app.wait("tickPrice", lambda v: v[0] == 5 and v[1] == 2)
    out["tickSize"] = app.wait("tickSize", lambda v: v[0] == 5 and v[1] == 3)
    app.reqCurrentTime()
    out["currentTime"] = app.wait("currentTime")[0]
    out["farm_codes"] = sorted({v[1] for v in app.seen.get("error", []) if 2100 <= v[1] < 3000})
    out["unexpected_errors"] = [v for v in app.seen.get("error", []) if v[1] not in (202, 10147) and v[1] < 2100]
    app.disconnect()
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
