"""The account as TWS reports it: positions and account values, kept in memory and published.

Positions feed the gate's max_position; a position snapshot and account values are events for the
desk. Run by ibapi's thread; mixed into ``worker.Worker`` through ``CallbackMixin``.
"""

from __future__ import annotations

from execution_worker import messages as m
from execution_worker.ib_values import ib_decimal


class AccountCallbacks:
    """``on_position``, ``on_positionEnd``, ``on_accountSummary`` and ``on_accountSummaryEnd``."""

    def on_position(self, generation: int, account: str, contract, position: float, avg_cost: float) -> None:
        if not self._current(generation):
            return
        quantity = ib_decimal(position)
        self._positions.setdefault(account, {})[contract.symbol] = {
            "symbol": contract.symbol,
            "con_id": contract.conId,
            "quantity": quantity,
            "avg_cost": ib_decimal(avg_cost),
            "sec_type": contract.secType or "STK",
            "currency": contract.currency or "USD",
        }
        self.gate.set_position(account, contract.symbol, quantity)
        if self._positions_end.is_set():
            self._emit_positions(account)

    def on_positionEnd(self, generation: int) -> None:
        if not self._current(generation):
            return
        for account in sorted(set(self._positions) | set(self.gate.accounts)):
            self._emit_positions(account)
        self._positions_end.set()

    def _emit_positions(self, account: str) -> None:
        positions = tuple(self._positions.get(account, {}).values())
        self.emit(m.PositionSnapshot(account=account, positions=positions))

    def on_accountSummary(self, generation: int, req_id: int, account: str, tag: str, value: str, currency: str):
        if not self._current(generation):
            return
        self._account_values.setdefault(account, {})[tag] = value
        if self._account_values_ready:
            self.emit(m.AccountValues(account=account, values={tag: value}, currency=currency or ""))

    def on_accountSummaryEnd(self, generation: int, req_id: int) -> None:
        if not self._current(generation):
            return
        self._account_values_ready = True
        for account, values in self._account_values.items():
            self.emit(m.AccountValues(account=account, values=dict(values)))
