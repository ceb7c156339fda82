"""order.cancel and order.modify: a held order cancelled at once, a working one cancelled or changed at TWS.

Mixed into ``worker.Worker``; a modify passes the gate's checks and the send claim as a place does.
"""

from __future__ import annotations

from decimal import Decimal

from execution_worker import messages as m
from execution_worker.placing import optional_decimal


class AmendMixin:
    """``cancel`` and ``modify`` of an order the worker knows (the command thread's)."""

    def cancel(self, command: m.OrderCancel) -> None:
        """Cancel a scheduled order at once, or ask TWS to cancel a working one."""
        coid = command.client_order_id
        record = self.book.records.get(coid)
        if record is None:
            self._reject(
                coid,
                "worker.unknown_order",
                "no order with this client_order_id",
                action="cancel",
                command_id=command.id,
            )
            return
        if record.state == "scheduled":
            record.state = "Cancelled"
            self.command_store.save(record)
            self._emit_status(
                record, "Cancelled", Decimal(0), Decimal(record.quantity), Decimal(0), command_id=command.id
            )
            return
        if record.final:
            self._reject(
                coid,
                "worker.not_cancellable",
                f"the order is already {record.state}",
                action="cancel",
                command_id=command.id,
            )
            return
        if not record.order_id:
            self._reject(
                coid, "worker.not_cancellable", "the order was never sent", action="cancel", command_id=command.id
            )
            return
        record.extra["action"] = "cancel"
        # The next status TWS reports for the order names this command.
        record.extra["command_id"] = command.id
        self._call("cancelOrder", record.order_id)

    def modify(self, command: m.OrderModify) -> None:
        """Re-send a working order with the same orderId and new quantity/prices/TIF, after the gate.

        Only an order TWS acknowledged and whose outcome is known is modified: placeOrder with the id of
        an order TWS never received would place it afresh (invariant 3), so anything else is refused.
        """
        coid = command.client_order_id
        record = self.book.records.get(coid)
        if record is None or record.final or not record.order_id or not record.accepted or record.state == "unknown":
            if record is None:
                why = "no order with this client_order_id"
            elif record.state == "unknown" or (record.order_id and not record.accepted and not record.final):
                why = f"TWS has not acknowledged the order ({record.state})"
            else:
                why = f"the order cannot be modified ({record.state})"
            self._reject(coid, "worker.not_modifiable", why, action="modify", command_id=command.id)
            return
        quantity = command.quantity if command.quantity is not None else Decimal(record.quantity)
        limit_price = command.limit_price if command.limit_price is not None else optional_decimal(record.limit_price)
        stop_price = command.stop_price if command.stop_price is not None else optional_decimal(record.stop_price)
        view = _ModifyView(limit_price, stop_price)
        working = self._working_quantity(record.account, record.symbol, record.side, exclude=coid)
        refusal = self.gate.check_modify(record.account, record.symbol, record.side, quantity, view, working)
        if refusal is not None:
            self._reject(
                coid, refusal.code, refusal.reason, action="modify", order_id=record.order_id, command_id=command.id
            )
            return
        self._require_ready()
        # The record keeps the order as TWS has it until TWS confirms the change (openOrder): a refused
        # modify (104, 105, 110...) must not leave the worker describing an order that does not exist.
        changes = {
            "quantity": m.plain_decimal(quantity),
            "limit_price": None if limit_price is None else m.plain_decimal(limit_price),
            "stop_price": None if stop_price is None else m.plain_decimal(stop_price),
        }
        if command.tif is not None:
            changes["tif"] = command.tif
        record.extra["action"] = "modify"
        # The next status TWS reports names this command, and is emitted even when the status words
        # and figures repeat (a price-only modify changes neither).
        record.extra["command_id"] = command.id
        self._last_status.pop(record.order_id, None)
        self._send_order(record, changes=changes)


class _ModifyView:
    """A modify's resulting prices, seen by the gate as an order's."""

    __slots__ = ("limit_price", "stop_price")

    def __init__(self, limit_price, stop_price) -> None:
        self.limit_price = limit_price
        self.stop_price = stop_price
