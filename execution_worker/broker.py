"""The ibapi adapter: an EWrapper that never raises, and an EClient connection under a watchdog.

Callbacks run in ibapi's ``run()`` thread; an exception escaping one would end that loop and drop
the connection (tws-protocol.md §2.3), so every callback is forwarded to the worker's handler inside
a catch-all that logs. ``connect()`` of ibapi 9.81 has no timeout; ``open_connection`` runs it in a
thread and closes the socket from outside when it does not finish in time.
"""

from __future__ import annotations

import copy
import logging
import socket
import threading

from ibapi import comm
from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from execution_worker.messages import DEFAULT_TIF, ORDER_TYPES, STOCK, takes_price
from execution_worker.order_template import OrderTemplates

log = logging.getLogger("execution_worker.broker")

# ibapi's NOT_CONNECTED: placeOrder reports it through error() instead of writing anything.
NOT_CONNECTED_CODE = 504

# ibapi logs every request at INFO with its full arguments; on the order path that costs more than
# the send itself, so it is held at WARNING whatever the root level is.
logging.getLogger("ibapi").setLevel(logging.WARNING)


class NotConnected(Exception):
    """TWS is not connected; nothing was sent."""


class SendFailed(Exception):
    """The socket failed while a request was being written; whether TWS got it is unknown."""


_FORWARDED = (
    "nextValidId",
    "managedAccounts",
    "error",
    "connectionClosed",
    "currentTime",
    "openOrder",
    "openOrderEnd",
    "orderStatus",
    "execDetails",
    "execDetailsEnd",
    "commissionReport",
    "position",
    "positionEnd",
    "accountSummary",
    "accountSummaryEnd",
    "tickPrice",
    "tickSize",
)


class SafeWrapper(EWrapper):
    """Forward the callbacks the worker uses to ``handler.on_<name>``; swallow and log any exception.

    ``generation`` tags the connection the wrapper belongs to, so late callbacks of a closed
    connection can be told apart from the current one's.
    """

    def __init__(self, handler, generation: int) -> None:
        super().__init__()
        self._handler = handler
        self.generation = generation
        # The orderId ``Connection.place_order`` is handing to ibapi's placeOrder, and whether ibapi
        # answered it with 504 (it then wrote nothing): set and read on the placing thread.
        self.placing = 0
        self.not_sent = False

    def error(self, req_id, code, text, *rest):
        if code == NOT_CONNECTED_CODE and req_id and req_id == self.placing:
            # ibapi's own "Not connected" for the order being placed: nothing left; the caller says so.
            self.not_sent = True
            return
        _forward_error(self, req_id, code, text, *rest)


def _forwarder(name: str):
    target = "on_" + name

    def forward(self, *args):
        try:
            getattr(self._handler, target)(self.generation, *args)
        except Exception:
            log.exception("callback %s failed; the connection is kept", name)

    forward.__name__ = name
    return forward


for _name in _FORWARDED:
    if _name != "error":
        setattr(SafeWrapper, _name, _forwarder(_name))
_forward_error = _forwarder("error")


class Connection:
    """One TWS session: an EClient, its wrapper and the thread running ibapi's message loop."""

    def __init__(self, client: EClient, wrapper: SafeWrapper) -> None:
        self.client = client
        self.wrapper = wrapper
        self.thread: threading.Thread | None = None
        self.templates = OrderTemplates(client.serverVersion())

    def order_message(self, order_id: int, contract: Contract, order: Order) -> bytes | None:
        """The framed bytes placeOrder writes for this order, from the template of its shape
        (``order_template``); None when the shape has none (``place_order`` then calls placeOrder).

        :raises ClientException: a text field that is not printable ASCII (as placeOrder raises).
        """
        message = self.templates.message(order_id, contract, order)
        return None if message is None else comm.make_msg(message)

    def place_order(self, order_id: int, contract: Contract, order: Order, framed: bytes | None = None) -> None:
        """``EClient.placeOrder``: the same bytes, written from the template of the order's shape when
        there is one. ``framed`` is this connection's ``order_message`` for the same order when the
        caller made it beforehand (while its send claim was in flight); otherwise it is made here.

        :raises NotConnected: the socket is closed and nothing was written (where ibapi's placeOrder
            would only report 504 "Not connected", and its sendMsg return quietly).
        :raises OSError: the socket failed during the write (part of it may have reached TWS).
        """
        client = self.client
        conn = client.conn
        if conn is None or not client.isConnected():
            raise NotConnected("TWS is not connected (nothing was sent)")
        if framed is None:
            framed = self.order_message(order_id, contract, order)
        if framed is None:
            wrapper = self.wrapper
            wrapper.placing, wrapper.not_sent = order_id, False
            try:
                client.placeOrder(order_id, contract, order)
            finally:
                wrapper.placing = 0
            if wrapper.not_sent:
                raise NotConnected("TWS is not connected (placeOrder answered 504; nothing was sent)")
        elif not conn.sendMsg(framed):
            # ibapi's connection writes nothing and returns 0 once its socket is closed.
            raise NotConnected("TWS is not connected (nothing was sent)")

    @property
    def alive(self) -> bool:
        return self.client.isConnected() and self.thread is not None and self.thread.is_alive()

    def close(self) -> None:
        """Disconnect; never raises (the socket may already be gone)."""
        try:
            self.client.disconnect()
        except Exception:
            log.debug("disconnect raised", exc_info=True)


def open_connection(handler, generation: int, host: str, port: int, client_id: int, timeout: float) -> Connection:
    """Connect to TWS and start the message loop, or give up after ``timeout`` seconds.

    :raises ConnectionError: refused, closed during the handshake, or no handshake answer in time.
    """
    wrapper = SafeWrapper(handler, generation)
    client = EClient(wrapper)
    done = threading.Event()
    failure: list[BaseException] = []

    def run_connect() -> None:
        try:
            client.connect(host, port, client_id)
        except BaseException as error:  # the watchdog reports it; this thread must not die loudly
            failure.append(error)
        finally:
            done.set()

    connector = threading.Thread(target=run_connect, name=f"tws-connect-{generation}", daemon=True)
    connector.start()
    if not done.wait(timeout):
        # A TWS that accepts the socket but never answers the handshake leaves connect() looping on
        # 1 s socket timeouts; closing the socket makes it return.
        conn = client.conn
        if conn is not None:
            try:
                conn.disconnect()
            except Exception:
                pass
        done.wait(2.0)
        raise ConnectionError(f"no handshake from {host}:{port} within {timeout:.1f} s")
    if failure:
        raise ConnectionError(f"connect to {host}:{port} failed: {failure[0]!r}")
    if not client.isConnected():
        raise ConnectionError(f"could not connect to {host}:{port}")
    _no_delay(client)
    connection = Connection(client, wrapper)
    # The worker's usual shapes are templated now rather than on the first order of each.
    for order_type in ORDER_TYPES:
        connection.templates.prepare(make_contract("SPY", STOCK, "SMART", "USD"), _probe_order(order_type))
    connection.thread = threading.Thread(target=_run_loop, args=(client,), name=f"tws-loop-{generation}", daemon=True)
    connection.thread.start()
    return connection


def _no_delay(client: EClient) -> None:
    """Turn Nagle's algorithm off on the TWS socket (ibapi leaves it on).

    With it on, a write that follows another before TWS acknowledged it is held until the ACK, and
    TWS's delayed ACK takes up to 40 ms: a bracket's second and third placeOrder arrived ~40 ms after
    the first. Every request is one whole message, so nothing is gained by coalescing.
    """
    sock = getattr(client.conn, "socket", None)
    if sock is None:
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as error:
        log.warning("could not set TCP_NODELAY on the TWS socket: %r", error)


def _run_loop(client: EClient) -> None:
    try:
        client.run()
    except Exception:
        log.exception("ibapi message loop ended with an error")


def make_contract(symbol: str, sec_type: str, exchange: str, currency: str) -> Contract:
    contract = Contract()
    contract.symbol = symbol
    contract.secType = sec_type
    contract.exchange = exchange
    contract.currency = currency
    return contract


# Order() assigns its 130 defaults one by one; on the order path, copying them from one Order built
# here is a single dict update. Defaults that are objects (a list, a SoftDollarTier) are copied for
# every order, never shared between orders.
_ORDER_DEFAULTS = dict(vars(Order()))
_ORDER_OBJECT_DEFAULTS = tuple(
    name for name, value in _ORDER_DEFAULTS.items() if not isinstance(value, (str, int, float, type(None)))
)


def _new_order() -> Order:
    """A new ibapi Order holding the same defaults as ``Order()``."""
    order = Order.__new__(Order)
    attributes = order.__dict__
    attributes.update(_ORDER_DEFAULTS)
    for name in _ORDER_OBJECT_DEFAULTS:
        attributes[name] = copy.copy(_ORDER_DEFAULTS[name])
    return order


def _probe_order(order_type: str) -> Order:
    return make_order(
        client_order_id="probe",
        account="PROBE",
        side="BUY",
        quantity=1,
        order_type=order_type,
        limit_price=1 if takes_price(order_type, "limit_price") else None,
        stop_price=1 if takes_price(order_type, "stop_price") else None,
        tif=DEFAULT_TIF,
        outside_rth=False,
        oca_group="",
    )


def make_order(
    *,
    client_order_id: str,
    account: str,
    side: str,
    quantity,
    order_type: str,
    limit_price,
    stop_price,
    tif: str,
    outside_rth: bool,
    oca_group: str,
    oca_type: int = 0,
    parent_id: int = 0,
    transmit: bool = True,
) -> Order:
    """Build the ibapi Order; orderRef carries the client_order_id (invariant 1).

    ``parent_id``: a bracket child's parent orderId; ``transmit=False``: TWS holds the order until a
    later order of its chain is sent with ``transmit=True``; ``oca_type`` 1-3 (0: TWS's default).
    """
    order = _new_order()
    order.orderRef = client_order_id
    order.account = account
    order.action = side
    order.totalQuantity = float(quantity)
    order.orderType = order_type
    if limit_price is not None:
        order.lmtPrice = float(limit_price)
    if stop_price is not None:
        order.auxPrice = float(stop_price)
    order.tif = tif
    order.outsideRth = bool(outside_rth)
    if oca_group:
        order.ocaGroup = oca_group
    if oca_type:
        order.ocaType = oca_type
    order.parentId = parent_id
    order.transmit = transmit
    # ibapi 9.81 defaults both to True and TWS >= 983 rejects such orders (10268/10269).
    order.eTradeOnly = False
    order.firmQuoteOnly = False
    return order
