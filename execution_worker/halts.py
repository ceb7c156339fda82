"""trading.halt and trading.resume: the worker's own halts, kept in Redis (they survive a restart).

A halt refuses the held orders of its scope at once and, with ``cancel_all``, cancels the working
ones; the gate refuses new orders of a halted scope, and the send claim checks these halts too.
Mixed into ``worker.Worker``.
"""

from __future__ import annotations

from execution_worker import messages as m
from execution_worker.risk import GLOBAL


class HaltMixin:
    """``halt`` and ``resume`` (the command thread's)."""

    def halt(self, command: m.TradingHalt) -> None:
        """Persist the halt (it survives a restart), refuse held orders, and with cancel_all cancel working ones."""
        account = command.account or GLOBAL
        self.command_store.set_halt(account, command.reason or "halted")
        halts = dict(self.gate.halts)
        halts[account] = command.reason or "halted"
        self.gate.set_halts(halts)
        for record in list(self.book.records.values()):
            if record.state == "scheduled" and (account == GLOBAL or record.account == account):
                record.state = "rejected"
                record.reject_code, record.reject_reason = "risk.halted", f"trading halted: {command.reason}"
                self.command_store.save(record)
                self._reject(
                    record.client_order_id, record.reject_code, record.reject_reason, command_id=record.command_id
                )
        if command.mode != "cancel_all":
            return
        if account == GLOBAL:
            self._call("reqGlobalCancel")
            return
        for record in list(self.book.records.values()):
            if record.account == account and record.order_id and not record.final and record.state != "rejected":
                record.extra["action"] = "cancel"
                self._call("cancelOrder", record.order_id)

    def resume(self, command: m.TradingResume) -> None:
        """Lift the worker's own halt of the command's scope, in Redis and in the gate."""
        account = command.account or GLOBAL
        self.command_store.clear_halt(account)
        halts = dict(self.gate.halts)
        halts.pop(account, None)
        self.gate.set_halts(halts)
