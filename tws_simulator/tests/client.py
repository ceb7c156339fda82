"""A recording ibapi client for the simulator's tests: every callback lands in a list, waits are bounded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.execution import ExecutionFilter
from ibapi.order import Order
from ibapi.wrapper import EWrapper


def stock(symbol: str) -> Contract:
    c = Contract()
    c.symbol = symbol
    c.secType = "STK"
    c.exchange = "SMART"
    c.currency = "USD"
    return c


def order(
    action: str,
    quantity: float,
    order_type: str = "MKT",
    lmt: float | None = None,
    *,
    ref: str = "",
    account: str = "",
    aux: float | None = None,
    plain: bool = True,
) -> Order:
    """An Order; ``plain`` clears 9.81's eTradeOnly/firmQuoteOnly defaults, which TWS refuses."""
    o = Order()
    o.action = action
    o.totalQuantity = quantity
    o.orderType = order_type
    if lmt is not None:
        o.lmtPrice = lmt
    if aux is not None:
        o.auxPrice = aux
    o.orderRef = ref
    o.account = account
    if plain:
        o.eTradeOnly = False
        o.firmQuoteOnly = False
    return o


class Recorder(EWrapper, EClient):
    """EClient + EWrapper that records (callback name, args) and runs its loop in a daemon thread."""

    def __init__(self) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.events: list[tuple[str, tuple]] = []
        self.cond = threading.Condition()
        self.closed = threading.Event()
        self.next_id: int | None = None
        # The last Order object of each openOrder, for fields the events do not carry (ocaType, parentId).
        self.order_objects: dict[int, Order] = {}

    def _rec(self, name: str, *args: Any) -> None:
        with self.cond:
            self.events.append((name, args))
            self.cond.notify_all()

    # connection
    def nextValidId(self, orderId: int) -> None:
        self.next_id = orderId
        self._rec("nextValidId", orderId)

    def managedAccounts(self, accountsList: str) -> None:
        self._rec("managedAccounts", accountsList)

    def error(self, reqId: int, errorCode: int, errorString: str) -> None:
        self._rec("error", reqId, errorCode, errorString)

    def connectionClosed(self) -> None:
        self.closed.set()
        self._rec("connectionClosed")

    def currentTime(self, time: int) -> None:
        self._rec("currentTime", time)

    # orders
    def openOrder(self, orderId, contract, order, orderState) -> None:
        self.order_objects[orderId] = order
        self._rec(
            "openOrder",
            orderId,
            contract.symbol,
            order.action,
            order.totalQuantity,
            order.orderType,
            order.lmtPrice,
            order.orderRef,
            order.permId,
            order.clientId,
            order.account,
            orderState.status,
        )

    def orderStatus(
        self,
        orderId,
        status,
        filled,
        remaining,
        avgFillPrice,
        permId,
        parentId,
        lastFillPrice,
        clientId,
        whyHeld,
        mktCapPrice,
    ) -> None:
        self._rec("orderStatus", orderId, status, filled, remaining, avgFillPrice, permId, lastFillPrice, clientId)

    def openOrderEnd(self) -> None:
        self._rec("openOrderEnd")

    def execDetails(self, reqId, contract, execution) -> None:
        self._rec(
            "execDetails",
            reqId,
            contract.symbol,
            execution.orderId,
            execution.execId,
            execution.side,
            execution.shares,
            execution.price,
            execution.permId,
            execution.clientId,
            execution.cumQty,
            execution.avgPrice,
            execution.orderRef,
            execution.acctNumber,
        )

    def execDetailsEnd(self, reqId: int) -> None:
        self._rec("execDetailsEnd", reqId)

    def commissionReport(self, commissionReport) -> None:
        self._rec(
            "commissionReport", commissionReport.execId, commissionReport.commission, commissionReport.realizedPNL
        )

    # portfolio
    def position(self, account, contract, position, avgCost) -> None:
        self._rec("position", account, contract.symbol, position, avgCost)

    def positionEnd(self) -> None:
        self._rec("positionEnd")

    def accountSummary(self, reqId, account, tag, value, currency) -> None:
        self._rec("accountSummary", reqId, account, tag, value, currency)

    def accountSummaryEnd(self, reqId: int) -> None:
        self._rec("accountSummaryEnd", reqId)

    # market data
    def tickPrice(self, reqId, tickType, price, attrib) -> None:
        self._rec("tickPrice", reqId, tickType, price)

    def tickSize(self, reqId, tickType, size) -> None:
        self._rec("tickSize", reqId, tickType, size)

    def tickString(self, reqId, tickType, value) -> None:
        self._rec("tickString", reqId, tickType, value)

    def tickSnapshotEnd(self, reqId: int) -> None:
        self._rec("tickSnapshotEnd", reqId)

    def marketDataType(self, reqId: int, marketDataType: int) -> None:
        self._rec("marketDataType", reqId, marketDataType)

    # history, bars and contracts
    def historicalData(self, reqId, bar) -> None:
        self._rec("historicalData", reqId, bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.average)

    def historicalDataEnd(self, reqId: int, start: str, end: str) -> None:
        self._rec("historicalDataEnd", reqId, start, end)

    def historicalDataUpdate(self, reqId, bar) -> None:
        self._rec("historicalDataUpdate", reqId, bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume)

    def realtimeBar(self, reqId, time, open_, high, low, close, volume, wap, count) -> None:
        self._rec("realtimeBar", reqId, time, open_, high, low, close, volume)

    def contractDetails(self, reqId, contractDetails) -> None:
        self._rec("contractDetails", reqId, contractDetails)

    def contractDetailsEnd(self, reqId: int) -> None:
        self._rec("contractDetailsEnd", reqId)

    def symbolSamples(self, reqId, contractDescriptions) -> None:
        self._rec("symbolSamples", reqId, [(d.contract.symbol, d.contract.conId) for d in contractDescriptions])

    # account updates and completed orders
    def updateAccountValue(self, key, val, currency, accountName) -> None:
        self._rec("updateAccountValue", key, val, currency, accountName)

    def updatePortfolio(self, contract, position, marketPrice, marketValue, averageCost, unrealizedPNL, realizedPNL,
                        accountName) -> None:  # fmt: skip
        self._rec("updatePortfolio", contract.symbol, position, marketPrice, marketValue, averageCost, accountName)

    def updateAccountTime(self, timeStamp) -> None:
        self._rec("updateAccountTime", timeStamp)

    def accountDownloadEnd(self, accountName) -> None:
        self._rec("accountDownloadEnd", accountName)

    def completedOrder(self, contract, order, orderState) -> None:
        self._rec("completedOrder", contract.symbol, order.permId, order.totalQuantity, order.filledQuantity,
                  orderState.status, orderState.completedTime)  # fmt: skip

    def accountUpdateMulti(self, reqId, account, modelCode, key, value, currency) -> None:
        self._rec("accountUpdateMulti", reqId, account, modelCode, key, value, currency)

    def accountUpdateMultiEnd(self, reqId) -> None:
        self._rec("accountUpdateMultiEnd", reqId)

    def completedOrdersEnd(self) -> None:
        self._rec("completedOrdersEnd")

    # helpers
    def wait_for(self, pred: Callable[[tuple[str, tuple]], bool], timeout: float = 5.0, start: int = 0) -> tuple:
        """Return the first recorded event (from index ``start``) matching ``pred``.

        :raises AssertionError: none arrived within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for ev in self.events[start:]:
                    if pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching event in {timeout}s; got {self.events[start:][-15:]}")
                self.cond.wait(left)

    def wait_name(self, name: str, timeout: float = 5.0, start: int = 0, **_: Any) -> tuple:
        return self.wait_for(lambda ev: ev[0] == name, timeout, start)

    def named(self, name: str) -> list[tuple]:
        with self.cond:
            return [args for n, args in self.events if n == name]

    def mark(self) -> int:
        with self.cond:
            return len(self.events)


def connect(port: int, client_id: int, *, timeout: float = 5.0, options: str = "", wait_ready: bool = True) -> Recorder:
    """Connect a Recorder under a watchdog (EClient.connect has no timeout) and start its run loop.

    :raises AssertionError: connect() did not return, or nextValidId did not arrive, within ``timeout``.
    """
    app = Recorder()
    if options:
        app.setConnectionOptions(options)
    done = threading.Event()

    def dial() -> None:
        app.connect("127.0.0.1", port, client_id)
        done.set()

    threading.Thread(target=dial, daemon=True).start()
    if not done.wait(timeout):
        # Closing the socket from here unblocks the stuck connect() thread.
        if app.conn is not None and app.conn.socket is not None:
            app.conn.socket.close()
        raise AssertionError("EClient.connect() did not return")
    threading.Thread(target=app.run, daemon=True).start()
    if wait_ready:
        app.wait_name("nextValidId", timeout)
    return app


def wait_until(pred: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``pred`` every 10 ms.

    :raises AssertionError: it did not become true within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached in {timeout}s")
        time.sleep(0.01)


def status(app: Recorder, order_id: int, wanted: str, timeout: float = 5.0, start: int = 0) -> tuple:
    """Wait for ``orderStatus`` of ``order_id`` saying ``wanted`` (from event ``start`` on) and return that event.

    :raises AssertionError: none arrived within ``timeout`` seconds.
    """
    return app.wait_for(lambda e: e[0] == "orderStatus" and e[1][0] == order_id and e[1][1] == wanted, timeout, start)


def error(app: Recorder, code: int, req_id: int | None = None, timeout: float = 5.0, start: int = 0) -> tuple:
    """Wait for TWS error ``code`` (for ``req_id`` when given, from event ``start`` on) and return that event.

    :raises AssertionError: none arrived within ``timeout`` seconds.
    """
    return app.wait_for(
        lambda e: e[0] == "error" and e[1][1] == code and (req_id is None or e[1][0] == req_id), timeout, start
    )


def wait_gone(sim: Any, client_id: int, timeout: float = 3.0) -> None:
    """Wait until the simulator has noticed ``client_id`` disconnect (so the id may be reused)."""
    wait_until(lambda: client_id not in sim.control.state()["clients"], timeout, f"client {client_id} gone")


def disconnect(app: Recorder, timeout: float = 3.0) -> None:
    """Disconnect and wait (bounded) for the run loop to notice."""
    if app.isConnected():
        app.disconnect()
    app.closed.wait(timeout)


def execution_filter(**kw: Any) -> ExecutionFilter:
    f = ExecutionFilter()
    for key, value in kw.items():
        setattr(f, key, value)
    return f
