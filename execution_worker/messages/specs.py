"""Which fields each message type takes: its parsers and defaults (``SPEC``), brackets' children, cross-field rules."""

from __future__ import annotations

from typing import Any

from execution_worker.messages.enums import DEFAULT_ORDER_TYPE, DEFAULT_TIF, REJECTED_ACTIONS, takes_price
from execution_worker.messages.fields import (
    ACCOUNT,
    CODE,
    FREE_TEXT,
    GATEWAY_STATE,
    HALT_MODE,
    MISSING_FIELD,
    ORDER_TYPE,
    SIDE,
    SOURCE,
    SYMBOL,
    TEXT16,
    TEXT64,
    TIF,
    UNKNOWN_FIELD,
    MessageError,
    bad_field,
    choice_parser,
    free_text_parser,
    optional,
    parse_bool,
    parse_decimal,
    parse_int,
    parse_non_negative_decimal,
    parse_number_map,
    parse_optional_decimal,
    parse_positions,
    parse_positive_decimal,
    parse_refresh_what,
    parse_str_map,
    parse_string_list,
    parse_uuid,
    text_parser,
)
from execution_worker.messages.types import (
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
)

# A SPEC default meaning "the key must be present".
REQUIRED = object()


def _spec(cls: type[Message], **parsers: Any) -> None:
    """Attach the parser of every data field to ``cls`` (the dataclass default is the default)."""
    from dataclasses import MISSING, fields

    spec = {}
    for f in fields(cls):
        if f.name in ("id", "ts", "cid"):
            continue
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = REQUIRED
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


_OPT_DEC = parse_optional_decimal
_OPT_POS = optional(parse_positive_decimal)
_OPT_INT = optional(parse_int)
_OPT_UUID = optional(parse_uuid)
_OPT_ACCOUNT = optional(ACCOUNT)
# The most children a bracket may carry (IB's brackets have two: take-profit and stop-loss).
MAX_CHILDREN = 4
OCA_TYPES = (1, 2, 3)


def _oca_type(name: str, value: Any) -> int:
    number = parse_int(name, value)
    if number not in OCA_TYPES:
        raise bad_field(name, "must be 1 (cancel the others), 2 (reduce them, with block) or 3 (reduce them)")
    return number


def _children(name: str, value: Any) -> tuple[dict[str, Any], ...]:
    """A bracket's children: 1..MAX_CHILDREN objects, each checked as an order.place's own fields are."""
    if type(value) is not list or not 1 <= len(value) <= MAX_CHILDREN:
        raise bad_field(name, f"must be a list of 1 to {MAX_CHILDREN} orders")
    out = []
    for item in value:
        if type(item) is not dict:
            raise bad_field(name, "each child must be an object")
        unknown = set(item) - set(_CHILD_SPEC)
        if unknown:
            raise MessageError(UNKNOWN_FIELD, f"{name}: a child has no field {sorted(unknown)[0][:64]!r}", name)
        child: dict[str, Any] = {}
        for key, (parser, default) in _CHILD_SPEC.items():
            raw = item.get(key, REQUIRED)
            if raw is REQUIRED:
                if default is REQUIRED:
                    raise MessageError(MISSING_FIELD, f"{name}: a child needs {key}", name)
                child[key] = default
            else:
                child[key] = parser(key, raw)
        _check_place(child)
        out.append(child)
    ids = [c["client_order_id"] for c in out]
    if len(set(ids)) != len(ids):
        raise bad_field(name, "children must have distinct client_order_ids")
    return tuple(out)


_spec(
    OrderPlace,
    client_order_id=parse_uuid,
    account=ACCOUNT,
    symbol=SYMBOL,
    side=SIDE,
    quantity=parse_positive_decimal,
    order_type=ORDER_TYPE,
    sec_type=text_parser(8, upper=True),
    exchange=text_parser(16, upper=True),
    currency=text_parser(3, upper=True),
    limit_price=_OPT_POS,
    stop_price=_OPT_POS,
    tif=TIF,
    outside_rth=parse_bool,
    parent_client_order_id=_OPT_UUID,
    oca_group=TEXT64,
    not_before=_OPT_INT,
    source=SOURCE,
    strategy=free_text_parser(200),
    min_quantity=_OPT_POS,
    quantity_increment=_OPT_POS,
    oca_type=optional(_oca_type),
    children=optional(_children),
    past_kill_switch=parse_bool,
)
# A bracket child's keys: parser and default (REQUIRED: must be given).
_CHILD_SPEC: dict[str, tuple[Any, Any]] = {
    "client_order_id": (parse_uuid, REQUIRED),
    "side": (SIDE, REQUIRED),
    "quantity": (parse_positive_decimal, REQUIRED),
    "order_type": (ORDER_TYPE, DEFAULT_ORDER_TYPE),
    "limit_price": (_OPT_POS, None),
    "stop_price": (_OPT_POS, None),
    "tif": (TIF, DEFAULT_TIF),
    "outside_rth": (parse_bool, False),
}
_spec(OrderCancel, client_order_id=parse_uuid, reason=FREE_TEXT)
_spec(
    OrderModify,
    client_order_id=parse_uuid,
    quantity=_OPT_POS,
    limit_price=_OPT_POS,
    stop_price=_OPT_POS,
    tif=optional(TIF),
)
_spec(TradingHalt, account=_OPT_ACCOUNT, mode=HALT_MODE, reason=FREE_TEXT)
_spec(TradingResume, account=_OPT_ACCOUNT, reason=FREE_TEXT)
_spec(BrokerRefresh, what=parse_refresh_what)
_spec(
    OrderAccepted,
    client_order_id=parse_uuid,
    order_id=parse_int,
    account=ACCOUNT,
    perm_id=_OPT_INT,
    command_id=_OPT_UUID,
    symbol=optional(SYMBOL),
    side=optional(SIDE),
    quantity=_OPT_DEC,
    order_type=optional(text_parser(16)),
    limit_price=_OPT_DEC,
    stop_price=_OPT_DEC,
    tif=optional(text_parser(8)),
)
_spec(
    OrderRejected,
    client_order_id=parse_uuid,
    code=CODE,
    reason=FREE_TEXT,
    action=choice_parser(*REJECTED_ACTIONS),
    order_id=_OPT_INT,
    command_id=_OPT_UUID,
)
_spec(
    OrderStatus,
    client_order_id=text_parser(36, allow_empty=True),
    order_id=parse_int,
    perm_id=parse_int,
    status=text_parser(32),
    filled=parse_non_negative_decimal,
    remaining=parse_non_negative_decimal,
    avg_fill_price=parse_non_negative_decimal,
    external=parse_bool,
    account=_OPT_ACCOUNT,
    symbol=optional(SYMBOL),
    side=optional(SIDE),
    quantity=_OPT_DEC,
    order_type=optional(text_parser(16)),
    limit_price=_OPT_DEC,
    stop_price=_OPT_DEC,
    tif=optional(text_parser(8)),
    command_id=_OPT_UUID,
)
_spec(
    OrderFilled,
    client_order_id=text_parser(36, allow_empty=True),
    order_id=parse_int,
    exec_id=text_parser(64),
    account=ACCOUNT,
    symbol=SYMBOL,
    side=SIDE,
    quantity=parse_positive_decimal,
    price=parse_non_negative_decimal,
    time=text_parser(40),
    perm_id=_OPT_INT,
    cum_quantity=_OPT_DEC,
    avg_price=_OPT_DEC,
    external=parse_bool,
    corrects=optional(text_parser(64)),
)
_spec(OrderCommission, exec_id=text_parser(64), commission=parse_decimal, currency=TEXT16, realized_pnl=_OPT_DEC)
_spec(OrderUnknown, client_order_id=parse_uuid, order_id=parse_int, reason=FREE_TEXT, command_id=_OPT_UUID)
_spec(PositionSnapshot, account=ACCOUNT, positions=parse_positions)
_spec(AccountValues, account=ACCOUNT, values=parse_str_map, currency=text_parser(16, allow_empty=True))
_spec(GatewayStatus, state=GATEWAY_STATE, server_version=_OPT_INT, detail=FREE_TEXT)
_spec(
    WorkerHeartbeat,
    worker=text_parser(128),
    started_at=parse_int,
    in_flight=parse_int,
    pacing_tokens=parse_decimal,
    state=text_parser(32, allow_empty=True),
    halted=parse_string_list,
    orders_sent=parse_int,
    orders_rejected=parse_int,
    pacing_violations=parse_int,
    latency_ms=parse_number_map,
    queue_ms=parse_number_map,
    gate_ms=parse_number_map,
    work_ms=parse_number_map,
)
_spec(
    MarketData,
    symbol=SYMBOL,
    bid=_OPT_DEC,
    ask=_OPT_DEC,
    last=_OPT_DEC,
    bid_size=_OPT_DEC,
    ask_size=_OPT_DEC,
    last_size=_OPT_DEC,
)


# ---------------------------------------------------------------------------------------------
# Cross-field rules
# ---------------------------------------------------------------------------------------------


def _check_place(values: dict[str, Any]) -> None:
    order_type = values["order_type"]
    needs_limit = takes_price(order_type, "limit_price")
    needs_stop = takes_price(order_type, "stop_price")
    if needs_limit and values["limit_price"] is None:
        raise MessageError(MISSING_FIELD, f"limit_price: required for a {order_type} order", "limit_price")
    if needs_stop and values["stop_price"] is None:
        raise MessageError(MISSING_FIELD, f"stop_price: required for a {order_type} order", "stop_price")
    if not needs_limit and values["limit_price"] is not None:
        raise bad_field("limit_price", f"not allowed on a {order_type} order")
    if not needs_stop and values["stop_price"] is not None:
        raise bad_field("stop_price", f"not allowed on a {order_type} order")


def _check_order_place(values: dict[str, Any]) -> None:
    _check_place(values)
    children = values["children"]
    if children is None:
        return
    if values["not_before"] is not None:
        raise bad_field("children", "a bracket cannot be held for not_before")
    if values["parent_client_order_id"] is not None:
        raise bad_field("children", "a child order cannot have children of its own")
    if values["client_order_id"] in {c["client_order_id"] for c in children}:
        raise bad_field("children", "a child needs a client_order_id of its own")


def _check_modify(values: dict[str, Any]) -> None:
    if all(values[key] is None for key in ("quantity", "limit_price", "stop_price", "tif")):
        raise MessageError(MISSING_FIELD, "order.modify needs at least one of quantity, limit_price, stop_price, tif")


CHECKS = {OrderPlace: _check_order_place, OrderModify: _check_modify}
