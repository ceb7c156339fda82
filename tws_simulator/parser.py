"""Client-to-server messages at server version 157: message ids and the parsers the engine needs."""

from __future__ import annotations

from dataclasses import dataclass

from tws_simulator.wire import UNSET_INTEGER

# Outgoing (client → server) message ids, ibapi/message.py class OUT.
REQ_MKT_DATA = 1
CANCEL_MKT_DATA = 2
PLACE_ORDER = 3
CANCEL_ORDER = 4
REQ_OPEN_ORDERS = 5
REQ_ACCT_DATA = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_AUTO_OPEN_ORDERS = 15
REQ_ALL_OPEN_ORDERS = 16
REQ_MANAGED_ACCTS = 17
REQ_CURRENT_TIME = 49
REQ_GLOBAL_CANCEL = 58
REQ_MARKET_DATA_TYPE = 59
REQ_POSITIONS = 61
REQ_ACCOUNT_SUMMARY = 62
CANCEL_ACCOUNT_SUMMARY = 63
CANCEL_POSITIONS = 64
START_API = 71


class RequestError(Exception):
    """A request cannot be parsed; ``code`` and ``text`` are what TWS answers (320/321)."""

    def __init__(self, code: int, text: str, req_id: int = -1) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.req_id = req_id


def quote(text: str) -> str:
    """``text`` made safe for an error message: printable ASCII, at most 64 characters."""
    return "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text[:64])


def _number_error(text: str, req_id: int) -> RequestError:
    return RequestError(
        320,
        "Error reading request. Unable to parse data. java.lang.NumberFormatException: "
        f'For input string: "{quote(text)}"',
        req_id,
    )


def parse_int(text: str, *, req_id: int = -1) -> int:
    """Parse an int field as Java would.

    :raises RequestError: 320 with TWS's NumberFormatException text for anything that is not a 32-bit int.
    """
    try:
        value = int(text) if text != "" else 0
    except ValueError:
        value = None
    if value is None or not -(2**31) <= value <= 2**31 - 1:
        raise _number_error(text, req_id)
    return value


def parse_float(text: str, *, req_id: int = -1) -> float | None:
    """Parse a double field; ``""`` and values >= 1e308 (ibapi's UNSET_DOUBLE) mean unset (None).

    :raises RequestError: 320 when the text is not a number.
    """
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise _number_error(text, req_id)
    if value != value or abs(value) >= 1e308:
        return None
    return value


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _bool(text: str) -> bool:
    return text not in ("", "0", "false", "False")


def field_at(fields: list[str], index: int) -> str:
    """Return ``fields[index]`` or ``""`` when the client sent fewer fields (TWS reads missing as empty)."""
    return fields[index] if index < len(fields) else ""


@dataclass(slots=True)
class PlaceOrder:
    """The placeOrder fields the simulator acts on (indices of tws-protocol.md §4.3)."""

    order_id: int
    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    primary_exchange: str
    currency: str
    action: str
    quantity: float
    order_type: str
    lmt_price: float | None
    aux_price: float | None
    tif: str
    oca_group: str
    oca_type: int
    account: str
    order_ref: str
    transmit: bool
    parent_id: int
    outside_rth: bool
    e_trade_only: bool
    firm_quote_only: bool
    nbbo_price_cap: float | None


def parse_place_order(fields: list[str]) -> PlaceOrder:
    """Parse the fixed prefix (0-34), ocaType (47) and the eTradeOnly/firmQuoteOnly/nbboPriceCap slots (53-55).

    :raises RequestError: 320 when a numeric field is not a number, or the message is truncated.
    """
    if len(fields) < 35:
        raise RequestError(320, "Error reading request. Unable to parse data. placeOrder is truncated")
    order_id = parse_int(fields[1])
    f = fields
    for index in (9, 21, 22, 23, 26):  # exchange, tif, ocaGroup, account, orderRef are echoed back
        if not _printable(f[index]):
            raise RequestError(
                321, f"Error validating request:-'bN' : cause - Invalid characters in {quote(f[index])}", order_id
            )
    quantity = parse_float(f[17], req_id=order_id)
    # Not a "transmit" default of True: ibapi always sends the field, so an empty one is a hostile client.
    return PlaceOrder(
        order_id=order_id,
        con_id=parse_int(f[2], req_id=order_id),
        symbol=f[3],
        sec_type=f[4],
        exchange=f[9],
        primary_exchange=f[10],
        currency=f[11],
        action=f[16],
        quantity=0.0 if quantity is None else quantity,
        order_type=f[18],
        lmt_price=parse_float(f[19], req_id=order_id),
        aux_price=parse_float(f[20], req_id=order_id),
        tif=f[21],
        oca_group=f[22],
        oca_type=parse_int(field_at(f, 47), req_id=order_id),
        account=f[23],
        order_ref=f[26],
        transmit=_bool(f[27]),
        parent_id=parse_int(f[28], req_id=order_id),
        outside_rth=_bool(f[33]),
        e_trade_only=_bool(field_at(f, 53)),
        firm_quote_only=_bool(field_at(f, 54)),
        nbbo_price_cap=parse_float(field_at(f, 55), req_id=order_id),
    )


@dataclass(slots=True)
class ExecutionFilter:
    """reqExecutions filter; empty strings and client_id 0 match everything."""

    client_id: int = 0
    account: str = ""
    time: str = ""
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    side: str = ""


def parse_req_executions(fields: list[str]) -> tuple[int, ExecutionFilter]:
    """Return (reqId, filter) of a reqExecutions message.

    :raises RequestError: 320 on a non-numeric reqId or clientId.
    """
    req_id = parse_int(field_at(fields, 2))
    client_id = parse_int(field_at(fields, 3), req_id=req_id)
    if client_id == UNSET_INTEGER:
        client_id = 0
    return req_id, ExecutionFilter(
        client_id=client_id,
        account=field_at(fields, 4),
        time=field_at(fields, 5),
        symbol=field_at(fields, 6),
        sec_type=field_at(fields, 7),
        exchange=field_at(fields, 8),
        side=field_at(fields, 9),
    )


@dataclass(slots=True)
class MktDataRequest:
    req_id: int
    con_id: int
    symbol: str
    sec_type: str
    generic_ticks: str
    snapshot: bool


def parse_req_mkt_data(fields: list[str]) -> MktDataRequest:
    """Parse reqMktData (20 fields for a non-BAG contract without delta-neutral).

    :raises RequestError: 320 on non-numeric ids; 321 for a BAG contract (combos are not simulated).
    """
    req_id = parse_int(field_at(fields, 2))
    sec_type = field_at(fields, 5)
    if sec_type == "BAG":
        raise RequestError(
            321, "Error validating request:-'bX' : cause - Combination contracts are not supported", req_id
        )
    index = 15
    if _bool(field_at(fields, index)):
        index += 3  # delta-neutral conId, delta, price
    return MktDataRequest(
        req_id=req_id,
        con_id=parse_int(field_at(fields, 3), req_id=req_id),
        symbol=field_at(fields, 4),
        sec_type=sec_type,
        generic_ticks=field_at(fields, index + 1),
        snapshot=_bool(field_at(fields, index + 2)),
    )
