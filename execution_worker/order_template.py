"""placeOrder messages from a template ibapi encoded once per order shape: 15 fields per order, not 110.

ibapi's ``EClient.placeOrder`` writes all of its ~110 fields on every call (66 server-version tests,
each text field checked character by character): half the worker's own CPU per order. Between the
worker's orders only the fields ``make_contract`` and ``make_order`` take from the command differ. A
template is ibapi's own encoding of an order of one shape (server version, secType, orderType); an
order's message is the template with those fields written by ibapi's own ``make_field``, sent with
``EClient.sendMsg`` like every other request.

A template is made only when ibapi shows each of those fields at one place of a layout that does not
move, and check orders render byte for byte as ibapi encodes them; a shape that fails (a layout that
depends on the values, an ibapi that writes them another way) is sent with ``placeOrder`` itself.
"""

from __future__ import annotations

import copy
import logging

from ibapi.client import EClient
from ibapi.comm import make_field, make_field_handle_empty
from ibapi.common import UNSET_DOUBLE
from ibapi.wrapper import EWrapper

log = logging.getLogger("execution_worker.broker")

# The fields that differ between the worker's orders, how ibapi writes each (as it does at server
# version 157: the quantity as a float, an unset price as an empty field), and two values to probe with.
_CONTRACT_FIELDS = (
    ("symbol", make_field, "PROBEA", "PROBEB"),
    ("exchange", make_field, "EXCHA", "EXCHB"),
    ("currency", make_field, "CCA", "CCB"),
)
_ORDER_FIELDS = (
    ("action", make_field, "BUY", "SELL"),
    ("totalQuantity", make_field, 1.0, 2.5),
    ("lmtPrice", make_field_handle_empty, 1.25, 3.5),
    ("auxPrice", make_field_handle_empty, 1.5, 4.75),
    ("tif", make_field, "DAY", "GTC"),
    ("ocaGroup", make_field, "", "OCAB"),
    ("account", make_field, "ACCTA", "ACCTB"),
    ("orderRef", make_field, "REFA", "REFB"),
    ("outsideRth", make_field, False, True),
    # A bracket's chain: held until the last member's transmit, children tied to their parent.
    ("transmit", make_field, True, False),
    ("parentId", make_field, 0, 7),
    ("ocaType", make_field, 0, 2),
)


class _Capture:
    """Stands in for ibapi's socket connection (its method names): keeps what a request would send."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def isConnected(self) -> bool:
        return True

    def sendMsg(self, msg: bytes) -> int:
        self.sent.append(msg)
        return len(msg)


def ibapi_fields(server_version: int, order_id: int, contract, order) -> list[str] | None:
    """The fields (each with its NUL) ibapi's placeOrder writes for this order, or None if it sends nothing."""
    client = EClient(EWrapper())
    client.conn = _Capture()
    client.setConnState(EClient.CONNECTED)
    client.serverVersion_ = server_version
    client.placeOrder(order_id, contract, order)
    if len(client.conn.sent) != 1:
        return None
    text = client.conn.sent[0][4:].decode()
    return [field + "\0" for field in text.split("\0")[:-1]]


class OrderTemplate:
    """ibapi's placeOrder message for one order shape, with the places of the fields that vary."""

    def __init__(self, fields: list[str], order_id_at: int, contract_at: tuple, order_at: tuple) -> None:
        self.fields = fields
        self.order_id_at = order_id_at
        self.contract_at = contract_at
        self.order_at = order_at

    def render(self, order_id: int, contract, order) -> str:
        """The message ibapi's placeOrder would send for this order (without the length prefix).

        :raises ClientException: a text field that is not printable ASCII (as placeOrder raises).
        """
        fields = self.fields.copy()
        fields[self.order_id_at] = make_field(order_id)
        for at, name, write in self.contract_at:
            fields[at] = write(getattr(contract, name))
        for at, name, write in self.order_at:
            fields[at] = write(getattr(order, name))
        return "".join(fields)

    @classmethod
    def build(cls, server_version: int, contract, order) -> OrderTemplate | None:
        """The template of this order's shape, from ibapi's own encodings; None when it cannot be one."""
        # Checked last: the order itself, every field at its second probe value, then unset prices and
        # a fractional quantity.
        checks = [(1, contract, order)]
        contract, order = copy.copy(contract), copy.copy(order)
        for table, target in ((_CONTRACT_FIELDS, contract), (_ORDER_FIELDS, order)):
            for name, _, first, _ in table:
                setattr(target, name, first)
        base = ibapi_fields(server_version, 1, contract, order)
        if base is None:
            return None
        order_id_at = _moved(base, ibapi_fields(server_version, 2, contract, order))
        places = []
        for table, target in ((_CONTRACT_FIELDS, contract), (_ORDER_FIELDS, order)):
            at = []
            for name, write, first, second in table:
                setattr(target, name, second)
                at.append((_moved(base, ibapi_fields(server_version, 1, contract, order)), name, write))
                setattr(target, name, first)
            places.append(tuple(at))
        if order_id_at is None or any(p is None for at in places for p, _, _ in at):
            return None
        if len({order_id_at, *(p for at in places for p, _, _ in at)}) != 1 + len(places[0]) + len(places[1]):
            return None
        template = cls(base, order_id_at, places[0], places[1])
        for table, target in ((_CONTRACT_FIELDS, contract), (_ORDER_FIELDS, order)):
            for name, _, _, second in table:
                setattr(target, name, second)
        checks.append((987654, copy.copy(contract), copy.copy(order)))
        order.lmtPrice = order.auxPrice = UNSET_DOUBLE
        order.totalQuantity = 0.125
        checks.append((7, copy.copy(contract), copy.copy(order)))
        for order_id, check_contract, check_order in checks:
            expected = ibapi_fields(server_version, order_id, check_contract, check_order)
            if expected is None or template.render(order_id, check_contract, check_order) != "".join(expected):
                return None
        return template


def _moved(base: list[str], other: list[str] | None) -> int | None:
    """The one place where ``other`` differs from ``base``; None if the layout moved or several differ."""
    if other is None or len(other) != len(base):
        return None
    differ = [i for i, (a, b) in enumerate(zip(base, other, strict=True)) if a != b]
    return differ[0] if len(differ) == 1 else None


class OrderTemplates:
    """The templates of one TWS session (one server version), made on first use of each shape."""

    def __init__(self, server_version: int) -> None:
        self.server_version = server_version
        self._by_shape: dict[tuple[str, str], OrderTemplate | None] = {}

    def message(self, order_id: int, contract, order) -> str | None:
        """The placeOrder message for this order, or None when its shape has no template."""
        shape = (contract.secType, order.orderType)
        try:
            template = self._by_shape[shape]
        except KeyError:
            template = self.prepare(contract, order)
        return None if template is None else template.render(order_id, contract, order)

    def prepare(self, contract, order) -> OrderTemplate | None:
        """Make (once) the template of this order's shape; None when ibapi's encoding does not allow one."""
        shape = (contract.secType, order.orderType)
        if shape not in self._by_shape:
            template = OrderTemplate.build(self.server_version, contract, order)
            if template is None:
                log.warning("no placeOrder template for %s %s at server version %s", *shape, self.server_version)
            self._by_shape[shape] = template
        return self._by_shape[shape]
