"""The stream contract between Django and the execution worker: message types, encode, decode, key names.

Every stream entry has five string fields: ``v`` (schema version ``"1"``), ``type``, ``id`` (message
UUID), ``ts`` (integer ns since the epoch at the producer) and ``data`` (a JSON object). Each message
type is a frozen dataclass whose fields are the envelope's ``id`` and ``ts`` plus the keys of ``data``.
Adding a new optional key means adding it here (both sides import this package); changing a meaning
means a new ``v``.

The package, by job: ``enums`` (order types and the prices each takes, TIFs, sides, sources: the
one source Django's choices are built from), ``limits`` (risk-limit keys), ``fields`` (field
parsers, ``MessageError``), ``types`` (the dataclasses), ``specs`` (each type's fields and
cross-field rules), ``codec`` (encode, decode, ``check_field``), ``names`` (stream and key names),
``consumer`` (how the streams are consumed: groups, pending first, claims, dead letters) and
``executions`` (IB's execution ids). Callers import the names from here.

It imports nothing from Django and is on the order path, so it is kept lean.
"""

from execution_worker.messages.codec import MAX_DATA_BYTES, SCHEMA_VERSION, check_field, decode, encode
from execution_worker.messages.enums import (
    DEFAULT_ORDER_TYPE,
    DEFAULT_TIF,
    GATEWAY_STATES,
    HALT_MODES,
    ORDER_TYPE_LABELS,
    ORDER_TYPE_PRICES,
    ORDER_TYPES,
    PRICE_FIELDS,
    REFRESH_WHAT,
    REJECTED_ACTIONS,
    SEC_TYPES,
    SIDE_LABELS,
    SIDES,
    SOURCES,
    STOCK,
    TIF_LABELS,
    TIFS,
    takes_price,
)
from execution_worker.messages.fields import (
    BAD_FIELD,
    MISSING_FIELD,
    TOO_LARGE,
    UNDECODABLE,
    UNKNOWN_FIELD,
    UNKNOWN_TYPE,
    UNSUPPORTED_VERSION,
    MessageError,
    plain_decimal,
)
from execution_worker.messages.limits import COUNT_LIMIT_KEYS, DECIMAL_LIMIT_KEYS, LIMIT_KEYS, SYMBOL_LIST_LIMIT_KEYS
from execution_worker.messages.names import COMMANDS_GROUP, EVENTS_GROUP, StreamNames
from execution_worker.messages.types import (
    COMMAND_TYPES,
    EVENT_TYPES,
    MESSAGE_TYPES,
    AccountValues,
    BrokerRefresh,
    GatewayStatus,
    MarketData,
    Message,
    OrderAccepted,
    OrderCancel,
    OrderCommission,
    OrderFilled,
    OrderModify,
    OrderPlace,
    OrderRejected,
    OrderStatus,
    OrderUnknown,
    PositionSnapshot,
    TradingHalt,
    TradingResume,
    WorkerHeartbeat,
    new_id,
)

# Event kinds: the type names of what the worker writes to the event stream, and of the commands.
EVENT_KINDS: tuple[str, ...] = tuple(cls.TYPE for cls in EVENT_TYPES)
COMMAND_KINDS: tuple[str, ...] = tuple(cls.TYPE for cls in COMMAND_TYPES)

__all__ = [
    "BAD_FIELD",
    "COMMANDS_GROUP",
    "COMMAND_KINDS",
    "COMMAND_TYPES",
    "COUNT_LIMIT_KEYS",
    "DECIMAL_LIMIT_KEYS",
    "DEFAULT_ORDER_TYPE",
    "DEFAULT_TIF",
    "EVENTS_GROUP",
    "EVENT_KINDS",
    "EVENT_TYPES",
    "GATEWAY_STATES",
    "HALT_MODES",
    "LIMIT_KEYS",
    "MAX_DATA_BYTES",
    "MESSAGE_TYPES",
    "MISSING_FIELD",
    "ORDER_TYPES",
    "ORDER_TYPE_LABELS",
    "ORDER_TYPE_PRICES",
    "PRICE_FIELDS",
    "REFRESH_WHAT",
    "REJECTED_ACTIONS",
    "SCHEMA_VERSION",
    "SEC_TYPES",
    "SIDES",
    "SIDE_LABELS",
    "SOURCES",
    "STOCK",
    "SYMBOL_LIST_LIMIT_KEYS",
    "TIFS",
    "TIF_LABELS",
    "TOO_LARGE",
    "UNDECODABLE",
    "UNKNOWN_FIELD",
    "UNKNOWN_TYPE",
    "UNSUPPORTED_VERSION",
    "AccountValues",
    "BrokerRefresh",
    "GatewayStatus",
    "MarketData",
    "Message",
    "MessageError",
    "OrderAccepted",
    "OrderCancel",
    "OrderCommission",
    "OrderFilled",
    "OrderModify",
    "OrderPlace",
    "OrderRejected",
    "OrderStatus",
    "OrderUnknown",
    "PositionSnapshot",
    "StreamNames",
    "TradingHalt",
    "TradingResume",
    "WorkerHeartbeat",
    "check_field",
    "decode",
    "encode",
    "new_id",
    "plain_decimal",
    "takes_price",
]
