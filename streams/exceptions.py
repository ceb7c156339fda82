"""What the event bridge refuses to apply: errors that dead-letter an event instead of retrying it."""

from __future__ import annotations

from tradeconsole.exceptions import ApplicationError


class BridgeRefusal(ApplicationError):
    """An event the bridge can never apply (unknown account, unknown order without a description)."""

    code = "bridge.unapplicable"


class FillOfUnknownOrder(BridgeRefusal):
    """An execution naming a ``client_order_id`` the book never saw: never a new order of its own.

    An order of ours exists from entry; a strategy's is recorded from the worker's
    ``order.accepted`` or ``order.status``, which describe it. An execution alone describes a
    trade, not an order: taking it for one would book whatever anyone wrote to the stream.
    """

    code = "bridge.fill_unknown_order"
