"""The contract's messages: one frozen dataclass per type, fields: the envelope's ``id``, ``ts`` and ``data``'s keys.

``codec`` attaches each type's field parsers (``SPEC``) and encodes and decodes them.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar

from execution_worker.messages.enums import DEFAULT_ORDER_TYPE, DEFAULT_TIF, REFRESH_WHAT, STOCK
from execution_worker.messages.fields import plain_decimal


def new_id() -> str:
    """Return a fresh message id (a random UUID string)."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message: the envelope's ``id`` (UUID), ``ts`` (ns since the epoch) and ``cid``.

    ``cid`` is the correlation id of what caused the message (a request, a task, a schedule's
    firing; ``logclock.correlation``), ``""`` when none: optional in the envelope, for log lines only.
    """

    TYPE: ClassVar[str] = ""
    # name -> (parser, default, as_is); default codec's REQUIRED means the key must be present; as_is: the
    # default is a plain value (str, bool, int, None) that its parser returns unchanged.
    SPEC: ClassVar[dict[str, tuple[Any, Any, bool]]] = {}

    id: str = field(default_factory=new_id)
    ts: int = field(default_factory=time.time_ns)
    cid: str = ""

    def data(self) -> dict[str, Any]:
        """Return the JSON-ready ``data`` object: Decimals as plain strings, None values left out."""
        out = {}
        for name in self.SPEC:
            value = getattr(self, name)
            if value is None:
                continue
            if type(value) is Decimal:
                value = plain_decimal(value)
            elif type(value) is tuple:
                value = [_jsonable(v) for v in value]
            elif type(value) is dict:
                value = {k: _jsonable(v) for k, v in value.items()}
            out[name] = value
        return out


def _jsonable(value: Any) -> Any:
    if type(value) is Decimal:
        return plain_decimal(value)
    if type(value) is dict:
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlace(Message):
    """Command: place a new order (``order.place``)."""

    TYPE: ClassVar[str] = "order.place"
    client_order_id: str
    account: str
    symbol: str
    side: str
    quantity: Decimal
    order_type: str = DEFAULT_ORDER_TYPE
    sec_type: str = STOCK
    exchange: str = "SMART"
    currency: str = "USD"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: str = DEFAULT_TIF
    outside_rth: bool = False
    parent_client_order_id: str | None = None
    oca_group: str = ""
    not_before: int | None = None
    source: str = "strategy"
    strategy: str = ""
    # The instrument's smallest quantity and quantity step (optional; the worker's gate refuses any
    # other quantity as ``order.quantity_increment``). Absent: whole shares for ``STK``, no check else.
    min_quantity: Decimal | None = None
    quantity_increment: Decimal | None = None
    # IB's ocaType for an order with an ``oca_group``: 1 cancel the others (with block), 2 reduce them
    # (with block), 3 reduce them (no block). Absent: TWS's default (3).
    oca_type: int | None = None
    # A bracket (IB's parent/child chain): the orders attached to this one, each an object with
    # ``client_order_id``, ``side``, ``quantity``, ``order_type``, ``limit_price``, ``stop_price``,
    # ``tif``, ``outside_rth`` (account and contract are the parent's). The worker records the chain
    # before its first send and transmits it as one unit; children without an ``oca_group`` of their
    # own are one OCA group at TWS (a fill of one reduces or cancels the others). Absent: a lone order.
    children: tuple[dict[str, Any], ...] | None = None
    # The kill switch's "cancel and flatten": a reduce-only closing order Django let past the engaged
    # desk-wide switch. The desk-wide halt (``*``) does not refuse it; an account's own halt does.
    past_kill_switch: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancel(Message):
    """Command: cancel a working (or held) order (``order.cancel``)."""

    TYPE: ClassVar[str] = "order.cancel"
    client_order_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderModify(Message):
    """Command: change quantity, prices and/or time in force of a working order (``order.modify``)."""

    TYPE: ClassVar[str] = "order.modify"
    client_order_id: str
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingHalt(Message):
    """Command: stop new orders for one account or all (``account`` None); ``cancel_all`` also cancels."""

    TYPE: ClassVar[str] = "trading.halt"
    account: str | None = None
    mode: str = "halt"
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TradingResume(Message):
    """Command: lift a halt for one account or the global one (``account`` None)."""

    TYPE: ClassVar[str] = "trading.resume"
    account: str | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerRefresh(Message):
    """Command: ask TWS again for positions, account values, open orders and/or executions."""

    TYPE: ClassVar[str] = "broker.refresh"
    what: tuple[str, ...] = REFRESH_WHAT


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderAccepted(Message):
    """Event: TWS acknowledged the order; ``order_id`` is its IB orderId."""

    TYPE: ClassVar[str] = "order.accepted"
    client_order_id: str
    order_id: int
    account: str
    perm_id: int | None = None
    # The id of the order.place command this answers (optional; see OrderStatus.command_id).
    command_id: str | None = None
    # The order as placed (optional), so an order a strategy XADDed directly can be recorded from events.
    symbol: str | None = None
    side: str | None = None
    quantity: Decimal | None = None
    order_type: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(Message):
    """Event: the order (or, with ``action`` modify/cancel, a change to it) was refused; nothing was sent.

    ``code`` is ``risk.*`` for the worker's gate and ``broker.<IB error code>`` for TWS.
    """

    TYPE: ClassVar[str] = "order.rejected"
    client_order_id: str
    code: str
    reason: str
    action: str = "place"
    order_id: int | None = None
    # The id of the command refused (the order.place, order.modify or order.cancel).
    command_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderStatus(Message):
    """Event: IB's status word for an order, with cumulative fill figures.

    ``client_order_id`` is empty for an order placed outside the console (``external`` true); such an
    order is identified by ``perm_id``. The optional order description keys (account, symbol, side,
    quantity, order type, prices, tif) are filled in for external orders and the worker's own alike.
    """

    TYPE: ClassVar[str] = "order.status"
    client_order_id: str
    order_id: int
    perm_id: int
    status: str
    filled: Decimal
    remaining: Decimal
    avg_fill_price: Decimal
    external: bool = False
    account: str | None = None
    symbol: str | None = None
    side: str | None = None
    quantity: Decimal | None = None
    order_type: str | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: str | None = None
    # Set on the first status after the worker applied an order.modify or order.cancel (or settled a
    # held order's cancel): the command's message id, so its outbox row can be acknowledged by id.
    command_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(Message):
    """Event: one execution (unique by ``exec_id``); ``side`` is BUY or SELL.

    ``corrects``: IB corrected an earlier execution; this one replaces it (``messages.executions``).
    """

    TYPE: ClassVar[str] = "order.filled"
    client_order_id: str
    order_id: int
    exec_id: str
    account: str
    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    time: str
    perm_id: int | None = None
    cum_quantity: Decimal | None = None
    avg_price: Decimal | None = None
    external: bool = False
    # The execId this execution corrects (IB's ``<stem>.<revision>``: same stem, lower revision).
    corrects: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCommission(Message):
    """Event: the commission of one execution; ``realized_pnl`` is None when IB leaves it unset."""

    TYPE: ClassVar[str] = "order.commission"
    exec_id: str
    commission: Decimal
    currency: str
    realized_pnl: Decimal | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUnknown(Message):
    """Event: the order was sent but its outcome is unknown; only the broker's report settles it."""

    TYPE: ClassVar[str] = "order.unknown"
    client_order_id: str
    order_id: int
    reason: str
    command_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionSnapshot(Message):
    """Event: every position TWS reports for one account (each: symbol, con_id, quantity, avg_cost)."""

    TYPE: ClassVar[str] = "position.snapshot"
    account: str
    positions: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountValues(Message):
    """Event: account summary tags of one account, tag -> value text."""

    TYPE: ClassVar[str] = "account.values"
    account: str
    values: dict[str, str]
    currency: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayStatus(Message):
    """Event: the worker's connection to TWS: disconnected, connecting, reconciling or ready."""

    TYPE: ClassVar[str] = "gateway.status"
    state: str
    server_version: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerHeartbeat(Message):
    """Event, every second: the worker is alive; figures for the System page.

    ``latency_ms`` holds path figures (producer ts → placeOrder sent, pacing wait excluded),
    ``queue_ms`` the pacing wait, ``gate_ms`` the decision time (decode, idempotency, gate) and
    ``work_ms`` the worker's own part (command read → placeOrder written, pacing wait excluded),
    each as p50/p99/p999/max/n over the recent window.
    """

    TYPE: ClassVar[str] = "worker.heartbeat"
    worker: str
    started_at: int
    in_flight: int
    pacing_tokens: Decimal
    state: str = ""
    halted: tuple[str, ...] = ()
    orders_sent: int = 0
    orders_rejected: int = 0
    pacing_violations: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    queue_ms: dict[str, float] = field(default_factory=dict)
    gate_ms: dict[str, float] = field(default_factory=dict)
    work_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketData(Message):
    """Market data tick for ``{prefix}:md:{symbol}``: the latest known quote fields."""

    TYPE: ClassVar[str] = "md.tick"
    symbol: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    bid_size: Decimal | None = None
    ask_size: Decimal | None = None
    last_size: Decimal | None = None


COMMAND_TYPES: tuple[type[Message], ...] = (
    OrderPlace,
    OrderCancel,
    OrderModify,
    TradingHalt,
    TradingResume,
    BrokerRefresh,
)
EVENT_TYPES: tuple[type[Message], ...] = (
    OrderAccepted,
    OrderRejected,
    OrderStatus,
    OrderFilled,
    OrderCommission,
    OrderUnknown,
    PositionSnapshot,
    AccountValues,
    GatewayStatus,
    WorkerHeartbeat,
)
MESSAGE_TYPES: dict[str, type[Message]] = {cls.TYPE: cls for cls in (*COMMAND_TYPES, *EVENT_TYPES, MarketData)}
