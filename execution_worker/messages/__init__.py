"""The stream contract between Django and the execution worker: message types, encode, decode, key names.

Every stream entry has five string fields: ``v`` (schema version ``"1"``), ``type``, ``id`` (message
UUID), ``ts`` (integer ns since the epoch at the producer) and ``data`` (a JSON object). Each message
type is a frozen dataclass whose fields are the envelope's ``id`` and ``ts`` plus the keys of ``data``.

``decode`` is strict: an unknown type, an unknown, missing or malformed ``data`` key, or an entry
over the size limit raises :class:`MessageError` with a stable ``code``. Producers should build the
dataclasses and call ``encode`` so that what they write is what the consumer accepts. Adding a new
optional key means adding it here (both sides import this module); changing a meaning means a new ``v``.

How the streams are consumed (consumer groups, pending first, claims, dead letters) is the other
half of the contract: ``execution_worker.messages.consumer``, used by the worker for the command
stream and by the bridge for the event stream.

This module imports nothing from Django and is on the order path, so it is kept lean.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

SCHEMA_VERSION = "1"
# Largest accepted ``data`` field, in bytes. A real command is well under 1 KiB; the limit keeps a
# hostile or broken producer from making the worker parse megabytes on the order path.
MAX_DATA_BYTES = 64 * 1024

# Stable error codes carried by MessageError.code.
UNDECODABLE = "message.undecodable"
UNSUPPORTED_VERSION = "message.unsupported_version"
UNKNOWN_TYPE = "message.unknown_type"
MISSING_FIELD = "message.missing_field"
BAD_FIELD = "message.bad_field"
UNKNOWN_FIELD = "message.unknown_field"
TOO_LARGE = "message.too_large"


class MessageError(ValueError):
    """A stream entry that does not follow the contract.

    ``code`` is one of the stable ``message.*`` codes above; ``field`` names the offending field
    when there is one; ``str(error)`` is a sentence for a person.
    """

    def __init__(self, code: str, text: str, field: str | None = None) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.field = field


# ---------------------------------------------------------------------------------------------
# Key names
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StreamNames:
    """Every Redis key of the contract, derived from one prefix (``TRADECONSOLE_STREAM_PREFIX``)."""

    prefix: str = "tc"

    @property
    def commands(self) -> str:
        return f"{self.prefix}:commands"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}:dlq"

    def md(self, symbol: str) -> str:
        """The market-data stream of one symbol."""
        return f"{self.prefix}:md:{symbol}"

    def risk_limits(self, account: str) -> str:
        """The string key holding one account's risk limits as JSON (written by Django)."""
        return f"{self.prefix}:risk:limits:{account}"

    def worker(self, name: str) -> str:
        """A key of the worker's durable state (``{prefix}:worker:{name}``)."""
        return f"{self.prefix}:worker:{name}"

    @property
    def halts(self) -> str:
        """The kill switch's barrier: a hash, account code (or ``*``) -> JSON ``{"reason", "token"}``,
        written by Django before an engage or halt returns; the worker sends nothing its scope covers."""
        return f"{self.prefix}:halts"

    def sending(self, account: str) -> str:
        """The worker's short lease while an order of ``account`` (``*``: any) is between its send
        claim and placeOrder; an engage waits for the leases of its scope to end."""
        return f"{self.prefix}:worker:sending:{account}"


COMMANDS_GROUP = "execution"
EVENTS_GROUP = "bridge"


def new_id() -> str:
    """Return a fresh message id (a random UUID string)."""
    return str(uuid.uuid4())


# ---------------------------------------------------------------------------------------------
# Field parsers: each takes the raw JSON value and returns the typed value or raises MessageError.
# ---------------------------------------------------------------------------------------------

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
# Printable ASCII without control characters: ibapi refuses anything else (client error 579).
_TEXT_RE = re.compile(r"[ -~]*\Z")
_DECIMAL_TEXT_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)\Z")
_MAX_DECIMAL_DIGITS = 24
_MAX_ABS_DECIMAL = Decimal(10) ** 15


def _bad(name: str, text: str) -> MessageError:
    return MessageError(BAD_FIELD, f"{name}: {text}", name)


def _uuid(name: str, value: Any) -> str:
    if type(value) is not str or not _UUID_RE.match(value):
        raise _bad(name, "must be a UUID string like 6f1c2d3e-0000-4000-8000-000000000000")
    return value.lower()


def _text_parser(max_len: int, *, allow_empty: bool = False, upper: bool = False):
    def parse(name: str, value: Any) -> str:
        if type(value) is not str:
            raise _bad(name, "must be a string")
        if not value and not allow_empty:
            raise _bad(name, "must not be empty")
        if len(value) > max_len:
            raise _bad(name, f"must be at most {max_len} characters")
        if not _TEXT_RE.match(value):
            raise _bad(name, "must be printable ASCII")
        return value.upper() if upper else value

    return parse


def _decimal(name: str, value: Any) -> Decimal:
    """Parse a decimal given as a JSON string or number, finite and of bounded size."""
    if type(value) is str:
        if len(value) > _MAX_DECIMAL_DIGITS + 2 or not _DECIMAL_TEXT_RE.match(value):
            raise _bad(name, "must be a plain decimal number such as 100 or 12.5")
        number = Decimal(value)
    elif type(value) is int:
        number = Decimal(value)
    elif type(value) is float or type(value) is Decimal:
        try:
            number = Decimal(str(value)) if type(value) is float else value
        except InvalidOperation:
            raise _bad(name, "must be a number")
        if not number.is_finite():
            raise _bad(name, "must be finite")
    else:
        raise _bad(name, "must be a decimal string or a number")
    if abs(number) >= _MAX_ABS_DECIMAL or (number and number.as_tuple().exponent < -12):
        raise _bad(name, "is out of range")
    return number


def _positive_decimal(name: str, value: Any) -> Decimal:
    number = _decimal(name, value)
    if number <= 0:
        raise _bad(name, "must be greater than 0")
    return number


def _non_negative_decimal(name: str, value: Any) -> Decimal:
    number = _decimal(name, value)
    if number < 0:
        raise _bad(name, "must not be negative")
    return number


def _optional_decimal(name: str, value: Any) -> Decimal | None:
    return None if value is None else _decimal(name, value)


def _int(name: str, value: Any) -> int:
    if type(value) is int:
        number = value
    elif type(value) is str and value.isdigit() and len(value) <= 20 and value.isascii():
        number = int(value)
    else:
        raise _bad(name, "must be an integer")
    if number < 0 or number >= 2**63:
        raise _bad(name, "must be a non-negative 64-bit integer")
    return number


def _bool(name: str, value: Any) -> bool:
    if value is True or value is False:
        return value
    if value in (0, 1) and type(value) is int:
        return bool(value)
    if type(value) is str and value.lower() in ("true", "false", "0", "1"):
        return value.lower() in ("true", "1")
    raise _bad(name, "must be true or false")


def _choice(*choices: str):
    allowed = frozenset(choices)
    listed = ", ".join(choices)

    def parse(name: str, value: Any) -> str:
        if type(value) is not str or value not in allowed:
            raise _bad(name, f"must be one of {listed}")
        return value

    return parse


def _string_list(name: str, value: Any) -> tuple[str, ...]:
    if type(value) is str:
        value = [part for part in value.split(",") if part]
    if type(value) is not list or not all(type(v) is str for v in value):
        raise _bad(name, "must be a list of strings")
    return tuple(value)


def _str_map(name: str, value: Any) -> dict[str, str]:
    if type(value) is not dict:
        raise _bad(name, "must be an object")
    out = {}
    for key, item in value.items():
        if type(item) not in (str, int, float, Decimal):
            raise _bad(name, f"value of {key!r} must be a string or a number")
        out[key] = item if type(item) is str else str(item)
    return out


def _number_map(name: str, value: Any) -> dict[str, float]:
    if type(value) is not dict:
        raise _bad(name, "must be an object")
    out = {}
    for key, item in value.items():
        if type(item) not in (int, float, Decimal) or type(item) is bool:
            raise _bad(name, f"value of {key!r} must be a number")
        out[key] = float(item)
    return out


def _positions(name: str, value: Any) -> tuple[dict[str, Any], ...]:
    if type(value) is not list:
        raise _bad(name, "must be a list")
    out = []
    for item in value:
        if type(item) is not dict:
            raise _bad(name, "each position must be an object")
        try:
            out.append(
                {
                    "symbol": _SYMBOL("symbol", item["symbol"]),
                    "con_id": _int("con_id", item.get("con_id", 0)),
                    "quantity": _decimal("quantity", item["quantity"]),
                    "avg_cost": _decimal("avg_cost", item.get("avg_cost", "0")),
                    "sec_type": _TEXT16("sec_type", item.get("sec_type", "STK")),
                    "currency": _TEXT16("currency", item.get("currency", "USD")),
                }
            )
        except KeyError as missing:
            raise MessageError(MISSING_FIELD, f"{name}: a position lacks {missing.args[0]}", name)
    return tuple(out)


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _free_text_parser(max_len: int):
    """Text for people (reasons, strategy names): any Unicode but control characters; never sent to IB."""

    def parse(name: str, value: Any) -> str:
        if type(value) is not str:
            raise _bad(name, "must be a string")
        if len(value) > max_len:
            raise _bad(name, f"must be at most {max_len} characters")
        if _CONTROL_RE.search(value):
            raise _bad(name, "must not contain control characters")
        return value

    return parse


_SYMBOL = _text_parser(32, upper=True)
_ACCOUNT = _text_parser(32)
_TEXT16 = _text_parser(16)
_TEXT64 = _text_parser(64, allow_empty=True)
_TEXT = _free_text_parser(2000)
_CODE = _text_parser(64)
_SIDE = _choice("BUY", "SELL")
# The order types an order.place may carry (the broker adapter templates each).
ORDER_TYPES = ("MKT", "LMT", "STP", "STP LMT")
_ORDER_TYPE = _choice(*ORDER_TYPES)
_TIF = _choice("DAY", "GTC", "IOC")
_SOURCE = _choice("admin", "api", "scheduler", "monitor", "strategy")
_HALT_MODE = _choice("halt", "cancel_all")
_GATEWAY_STATE = _choice("disconnected", "connecting", "reconciling", "ready")
REFRESH_WHAT = ("positions", "account", "open_orders", "executions")


def _refresh_what(name: str, value: Any) -> tuple[str, ...]:
    what = _string_list(name, value)
    unknown = set(what) - set(REFRESH_WHAT)
    if unknown:
        raise _bad(name, f"unknown item(s) {sorted(unknown)}; allowed: {', '.join(REFRESH_WHAT)}")
    return what or REFRESH_WHAT


def _optional(parser):
    def parse(name: str, value: Any):
        return None if value is None else parser(name, value)

    return parse


def _plain(value: Decimal) -> str:
    """Render a Decimal without exponent (``Decimal('1E+2')`` → ``'100'``)."""
    return format(value, "f")


# ---------------------------------------------------------------------------------------------
# Message types
# ---------------------------------------------------------------------------------------------

_REQUIRED = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of every message: the envelope's ``id`` (UUID) and ``ts`` (ns since the epoch)."""

    TYPE: ClassVar[str] = ""
    # name -> (parser, default, as_is); default _REQUIRED means the key must be present; as_is: the
    # default is a plain value (str, bool, int, None) that its parser returns unchanged.
    SPEC: ClassVar[dict[str, tuple[Any, Any, bool]]] = {}

    id: str = field(default_factory=new_id)
    ts: int = field(default_factory=time.time_ns)

    def data(self) -> dict[str, Any]:
        """Return the JSON-ready ``data`` object: Decimals as plain strings, None values left out."""
        out = {}
        for name in self.SPEC:
            value = getattr(self, name)
            if value is None:
                continue
            if type(value) is Decimal:
                value = _plain(value)
            elif type(value) is tuple:
                value = [_jsonable(v) for v in value]
            elif type(value) is dict:
                value = {k: _jsonable(v) for k, v in value.items()}
            out[name] = value
        return out


def _jsonable(value: Any) -> Any:
    if type(value) is Decimal:
        return _plain(value)
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
    order_type: str = "MKT"
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    tif: str = "DAY"
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


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancel(Message):
    """Command: cancel a working (or held) order (``order.cancel``)."""

    TYPE: ClassVar[str] = "order.cancel"
    client_order_id: str
    reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderModify(Message):
    """Command: change quantity and/or prices of a working order (``order.modify``)."""

    TYPE: ClassVar[str] = "order.modify"
    client_order_id: str
    quantity: Decimal | None = None
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


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


def _spec(cls: type[Message], **parsers: Any) -> None:
    """Attach the parser of every data field to ``cls`` (the dataclass default is the default)."""
    from dataclasses import MISSING, fields

    spec = {}
    for f in fields(cls):
        if f.name in ("id", "ts"):
            continue
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = _REQUIRED
        parser = parsers[f.name]
        as_is = type(default) in _PLAIN_DEFAULTS
        # decode() takes a key sent with its default value as is; that is only right if parsing it
        # would give the same value back.
        assert not as_is or parser(f.name, default) == default, (cls.TYPE, f.name)
        spec[f.name] = (parser, default, as_is)
    missing = set(parsers) - set(spec)
    assert not missing, missing
    cls.SPEC = spec


_PLAIN_DEFAULTS = (str, bool, int, type(None))


_OPT_DEC = _optional_decimal
_OPT_POS = _optional(_positive_decimal)
_OPT_INT = _optional(_int)
_OPT_UUID = _optional(_uuid)
_OPT_ACCOUNT = _optional(_ACCOUNT)
# The most children a bracket may carry (IB's brackets have two: take-profit and stop-loss).
MAX_CHILDREN = 4
OCA_TYPES = (1, 2, 3)


def _oca_type(name: str, value: Any) -> int:
    number = _int(name, value)
    if number not in OCA_TYPES:
        raise _bad(name, "must be 1 (cancel the others), 2 (reduce them, with block) or 3 (reduce them)")
    return number


def _children(name: str, value: Any) -> tuple[dict[str, Any], ...]:
    """A bracket's children: 1..MAX_CHILDREN objects, each checked as an order.place's own fields are."""
    if type(value) is not list or not 1 <= len(value) <= MAX_CHILDREN:
        raise _bad(name, f"must be a list of 1 to {MAX_CHILDREN} orders")
    out = []
    for item in value:
        if type(item) is not dict:
            raise _bad(name, "each child must be an object")
        unknown = set(item) - set(_CHILD_SPEC)
        if unknown:
            raise MessageError(UNKNOWN_FIELD, f"{name}: a child has no field {sorted(unknown)[0][:64]!r}", name)
        child: dict[str, Any] = {}
        for key, (parser, default) in _CHILD_SPEC.items():
            raw = item.get(key, _REQUIRED)
            if raw is _REQUIRED:
                if default is _REQUIRED:
                    raise MessageError(MISSING_FIELD, f"{name}: a child needs {key}", name)
                child[key] = default
            else:
                child[key] = parser(key, raw)
        _check_place(child)
        out.append(child)
    ids = [c["client_order_id"] for c in out]
    if len(set(ids)) != len(ids):
        raise _bad(name, "children must have distinct client_order_ids")
    return tuple(out)


_spec(
    OrderPlace,
    client_order_id=_uuid,
    account=_ACCOUNT,
    symbol=_SYMBOL,
    side=_SIDE,
    quantity=_positive_decimal,
    order_type=_ORDER_TYPE,
    sec_type=_text_parser(8, upper=True),
    exchange=_text_parser(16, upper=True),
    currency=_text_parser(3, upper=True),
    limit_price=_OPT_POS,
    stop_price=_OPT_POS,
    tif=_TIF,
    outside_rth=_bool,
    parent_client_order_id=_OPT_UUID,
    oca_group=_TEXT64,
    not_before=_OPT_INT,
    source=_SOURCE,
    strategy=_free_text_parser(200),
    min_quantity=_OPT_POS,
    quantity_increment=_OPT_POS,
    oca_type=_optional(_oca_type),
    children=_optional(_children),
)
# A bracket child's keys: parser and default (_REQUIRED: must be given).
_CHILD_SPEC: dict[str, tuple[Any, Any]] = {
    "client_order_id": (_uuid, _REQUIRED),
    "side": (_SIDE, _REQUIRED),
    "quantity": (_positive_decimal, _REQUIRED),
    "order_type": (_ORDER_TYPE, "MKT"),
    "limit_price": (_OPT_POS, None),
    "stop_price": (_OPT_POS, None),
    "tif": (_TIF, "DAY"),
    "outside_rth": (_bool, False),
}
_spec(OrderCancel, client_order_id=_uuid, reason=_TEXT)
_spec(OrderModify, client_order_id=_uuid, quantity=_OPT_POS, limit_price=_OPT_POS, stop_price=_OPT_POS)
_spec(TradingHalt, account=_OPT_ACCOUNT, mode=_HALT_MODE, reason=_TEXT)
_spec(TradingResume, account=_OPT_ACCOUNT, reason=_TEXT)
_spec(BrokerRefresh, what=_refresh_what)
_spec(
    OrderAccepted,
    client_order_id=_uuid,
    order_id=_int,
    account=_ACCOUNT,
    perm_id=_OPT_INT,
    command_id=_OPT_UUID,
    symbol=_optional(_SYMBOL),
    side=_optional(_SIDE),
    quantity=_OPT_DEC,
    order_type=_optional(_text_parser(16)),
    limit_price=_OPT_DEC,
    stop_price=_OPT_DEC,
    tif=_optional(_text_parser(8)),
)
_spec(
    OrderRejected,
    client_order_id=_uuid,
    code=_CODE,
    reason=_TEXT,
    action=_choice("place", "modify", "cancel"),
    order_id=_OPT_INT,
    command_id=_OPT_UUID,
)
_spec(
    OrderStatus,
    client_order_id=_text_parser(36, allow_empty=True),
    order_id=_int,
    perm_id=_int,
    status=_text_parser(32),
    filled=_non_negative_decimal,
    remaining=_non_negative_decimal,
    avg_fill_price=_non_negative_decimal,
    external=_bool,
    account=_OPT_ACCOUNT,
    symbol=_optional(_SYMBOL),
    side=_optional(_SIDE),
    quantity=_OPT_DEC,
    order_type=_optional(_text_parser(16)),
    limit_price=_OPT_DEC,
    stop_price=_OPT_DEC,
    tif=_optional(_text_parser(8)),
    command_id=_OPT_UUID,
)
_spec(
    OrderFilled,
    client_order_id=_text_parser(36, allow_empty=True),
    order_id=_int,
    exec_id=_text_parser(64),
    account=_ACCOUNT,
    symbol=_SYMBOL,
    side=_SIDE,
    quantity=_positive_decimal,
    price=_non_negative_decimal,
    time=_text_parser(40),
    perm_id=_OPT_INT,
    cum_quantity=_OPT_DEC,
    avg_price=_OPT_DEC,
    external=_bool,
    corrects=_optional(_text_parser(64)),
)
_spec(OrderCommission, exec_id=_text_parser(64), commission=_decimal, currency=_TEXT16, realized_pnl=_OPT_DEC)
_spec(OrderUnknown, client_order_id=_uuid, order_id=_int, reason=_TEXT, command_id=_OPT_UUID)
_spec(PositionSnapshot, account=_ACCOUNT, positions=_positions)
_spec(AccountValues, account=_ACCOUNT, values=_str_map, currency=_text_parser(16, allow_empty=True))
_spec(GatewayStatus, state=_GATEWAY_STATE, server_version=_OPT_INT, detail=_TEXT)
_spec(
    WorkerHeartbeat,
    worker=_text_parser(128),
    started_at=_int,
    in_flight=_int,
    pacing_tokens=_decimal,
    state=_text_parser(32, allow_empty=True),
    halted=_string_list,
    orders_sent=_int,
    orders_rejected=_int,
    pacing_violations=_int,
    latency_ms=_number_map,
    queue_ms=_number_map,
    gate_ms=_number_map,
    work_ms=_number_map,
)
_spec(
    MarketData,
    symbol=_SYMBOL,
    bid=_OPT_DEC,
    ask=_OPT_DEC,
    last=_OPT_DEC,
    bid_size=_OPT_DEC,
    ask_size=_OPT_DEC,
    last_size=_OPT_DEC,
)

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


# ---------------------------------------------------------------------------------------------
# Cross-field rules
# ---------------------------------------------------------------------------------------------


def _check_place(values: dict[str, Any]) -> None:
    order_type = values["order_type"]
    needs_limit = order_type in ("LMT", "STP LMT")
    needs_stop = order_type in ("STP", "STP LMT")
    if needs_limit and values["limit_price"] is None:
        raise MessageError(MISSING_FIELD, f"limit_price: required for a {order_type} order", "limit_price")
    if needs_stop and values["stop_price"] is None:
        raise MessageError(MISSING_FIELD, f"stop_price: required for a {order_type} order", "stop_price")
    if not needs_limit and values["limit_price"] is not None:
        raise _bad("limit_price", f"not allowed on a {order_type} order")
    if not needs_stop and values["stop_price"] is not None:
        raise _bad("stop_price", f"not allowed on a {order_type} order")


def _check_order_place(values: dict[str, Any]) -> None:
    _check_place(values)
    children = values["children"]
    if children is None:
        return
    if values["not_before"] is not None:
        raise _bad("children", "a bracket cannot be held for not_before")
    if values["parent_client_order_id"] is not None:
        raise _bad("children", "a child order cannot have children of its own")
    if values["client_order_id"] in {c["client_order_id"] for c in children}:
        raise _bad("children", "a child needs a client_order_id of its own")


def _check_modify(values: dict[str, Any]) -> None:
    if values["quantity"] is None and values["limit_price"] is None and values["stop_price"] is None:
        raise MessageError(MISSING_FIELD, "order.modify needs at least one of quantity, limit_price, stop_price")


_CHECKS = {OrderPlace: _check_order_place, OrderModify: _check_modify}


# ---------------------------------------------------------------------------------------------
# encode / decode
# ---------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if type(value) is Decimal:
        return _plain(value)
    if type(value) is tuple:
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, default=_json_default).encode


def encode(message: Message) -> dict[str, str]:
    """Return the five stream fields (v, type, id, ts, data) of ``message``.

    :raises MessageError: the encoded data exceeds ``MAX_DATA_BYTES``.
    """
    data = _dumps(message.data())
    if len(data) > MAX_DATA_BYTES:
        raise MessageError(TOO_LARGE, f"data is {len(data)} bytes, over the limit of {MAX_DATA_BYTES}", "data")
    return {"v": SCHEMA_VERSION, "type": message.TYPE, "id": message.id, "ts": str(message.ts), "data": data}


# json.loads with parse_float builds a new decoder on every call; this one is built once.
_json_decode = json.JSONDecoder(parse_float=Decimal).decode

_ENVELOPE = ("v", "type", "id", "ts", "data")
_ENVELOPE_BYTES = tuple(name.encode() for name in _ENVELOPE)


def _field(fields: dict, name: str, name_bytes: bytes) -> str:
    value = fields.get(name_bytes)
    if value is None:
        value = fields.get(name)
        if value is None:
            raise MessageError(MISSING_FIELD if name != "data" else UNDECODABLE, f"the entry has no {name} field", name)
    if type(value) is bytes:
        if name == "data" and len(value) > MAX_DATA_BYTES:
            raise MessageError(TOO_LARGE, f"data is {len(value)} bytes, over the limit of {MAX_DATA_BYTES}", "data")
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise MessageError(UNDECODABLE, f"{name} is not valid UTF-8", name)
    if type(value) is not str:
        raise MessageError(UNDECODABLE, f"{name} must be a string", name)
    return value


def decode(fields: dict) -> Message:
    """Turn one stream entry's fields (bytes or str keys and values) into its typed message.

    :raises MessageError: anything that does not follow the contract, with a stable ``code``:
        ``message.undecodable`` (no/invalid JSON data, bad encoding), ``message.unsupported_version``,
        ``message.unknown_type``, ``message.missing_field``, ``message.bad_field``,
        ``message.unknown_field``, ``message.too_large``.
    """
    if type(fields) is not dict:
        raise MessageError(UNDECODABLE, "an entry must be a mapping of fields")
    if len(fields) > 5:
        names = sorted(k.decode("utf-8", "replace") if type(k) is bytes else str(k) for k in fields)
        extra = [n for n in names if n not in _ENVELOPE]
        raise MessageError(UNKNOWN_FIELD, f"unknown envelope field(s): {', '.join(extra)}")
    data_text = _field(fields, "data", b"data")
    if len(data_text) > MAX_DATA_BYTES:
        raise MessageError(TOO_LARGE, f"data is {len(data_text)} bytes, over the limit of {MAX_DATA_BYTES}", "data")
    version = _field(fields, "v", b"v")
    if version != SCHEMA_VERSION:
        raise MessageError(UNSUPPORTED_VERSION, f"schema version {version[:20]!r} is not supported (want 1)", "v")
    type_name = _field(fields, "type", b"type")
    cls = MESSAGE_TYPES.get(type_name)
    if cls is None:
        raise MessageError(UNKNOWN_TYPE, f"unknown message type {type_name[:64]!r}", "type")
    message_id = _uuid("id", _field(fields, "id", b"id"))
    ts_text = _field(fields, "ts", b"ts")
    if not (ts_text.isdigit() and ts_text.isascii() and len(ts_text) <= 20):
        raise _bad("ts", "must be integer nanoseconds since the epoch")
    try:
        data = _json_decode(data_text)
    except (ValueError, RecursionError) as error:
        raise MessageError(UNDECODABLE, f"data is not valid JSON: {str(error)[:120]}", "data")
    if type(data) is not dict:
        raise MessageError(UNDECODABLE, "data must be a JSON object", "data")
    spec = cls.SPEC
    for key in data:
        if key not in spec:
            raise MessageError(UNKNOWN_FIELD, f"{type_name} has no field {str(key)[:64]!r}", str(key)[:64])
    values: dict[str, Any] = {}
    for name, (parser, default, as_is) in spec.items():
        raw = data.get(name, _REQUIRED)
        if raw is _REQUIRED:
            if default is _REQUIRED:
                raise MessageError(MISSING_FIELD, f"{type_name} needs {name}", name)
            values[name] = default
        elif as_is and type(raw) is type(default) and raw == default:
            # Producers write every field, most at their defaults ("STK", "SMART", false, ""...).
            values[name] = default
        else:
            values[name] = parser(name, raw)
    check = _CHECKS.get(cls)
    if check is not None:
        check(values)
    return cls(id=message_id, ts=int(ts_text), **values)


def check_field(type_name: str, name: str, value: Any) -> Any:
    """Return ``value`` parsed as ``decode`` parses the ``data`` key ``name`` of a ``type_name`` message.

    Producers check text at entry with it (a cancel's reason, an order's ``oca_group``), so the
    consumer's rule is the only one: what passes here is never dead-lettered as a bad field.

    :raises MessageError: the consumer would refuse the value (``message.bad_field``).
    :raises KeyError: ``type_name`` or ``name`` is not part of the contract.
    """
    return MESSAGE_TYPES[type_name].SPEC[name][0](name, value)
