"""Fills as TWS reports them: execDetails (corrections replace what they correct) and commission reports.

Each execution is reported once (``order.filled``, by execId), the order's executed totals kept for
reconciliation, and realized PnL counted toward the daily-loss limit on the execution's trading
date, once per report. Run by ibapi's thread; mixed into ``worker.Worker`` through ``CallbackMixin``.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from execution_worker import messages as m
from execution_worker.corrections import ExecutionRevisions
from execution_worker.ib_values import UNSET_DOUBLE_LIMIT, exec_time, ib_decimal
from execution_worker.risk import trading_date

log = logging.getLogger("execution_worker")

SIDES = {"BOT": "BUY", "SLD": "SELL", "BUY": "BUY", "SELL": "SELL"}


class FillCallbacks:
    """``on_execDetails``, ``on_execDetailsEnd`` and ``on_commissionReport``."""

    @property
    def _revisions(self) -> ExecutionRevisions:
        """IB's execution revisions seen by this worker (created on first use, one per worker)."""
        revisions = self.__dict__.get("_execution_revisions")
        if revisions is None:
            revisions = self.__dict__.setdefault("_execution_revisions", ExecutionRevisions())
        return revisions

    def on_execDetails(self, generation: int, req_id: int, contract, execution) -> None:
        if not self._current(generation):
            return
        exec_id = execution.execId
        ref = execution.orderRef or ""
        record = self.book.records.get(ref) if ref else None
        if record is not None:
            self._recon_exec_refs.add(ref)
        if exec_id in self._seen_exec_ids:
            return
        self._seen_exec_ids.add(exec_id)
        shares, value = ib_decimal(execution.shares), ib_decimal(execution.shares) * ib_decimal(execution.price)
        kind, earlier = self._revisions.observe(exec_id, shares=shares, value=value)
        if kind == "stale":
            log.warning("execution %s arrived after its correction %s; ignored", exec_id, earlier.exec_id)
            return
        if record is not None:
            total_shares, total_value = self._exec_totals.get(ref, (Decimal(0), Decimal(0)))
            if earlier is not None:
                # A correction replaces the execution it corrects: its shares count once.
                total_shares, total_value = total_shares - earlier.shares, total_value - earlier.value
            self._exec_totals[ref] = (total_shares + shares, total_value + value)
        executed = exec_time(execution.time)
        executed_at = executed.isoformat().replace("+00:00", "Z")
        # The trading date of the execution, not of the commission report: reqExecutions replays
        # earlier days' reports, whose PnL must not count toward today's loss limit.
        self._exec_accounts[exec_id] = (execution.acctNumber, trading_date(executed), executed)
        if self._last_exec_at is None or executed > self._last_exec_at:
            self._last_exec_at = executed
        side = SIDES.get(execution.side, "BUY")
        self.emit(
            m.OrderFilled(
                client_order_id=record.client_order_id if record else "",
                order_id=record.order_id if record else max(execution.orderId, 0),
                exec_id=exec_id,
                account=execution.acctNumber,
                symbol=contract.symbol,
                side=side,
                quantity=ib_decimal(execution.shares),
                price=ib_decimal(execution.price),
                time=executed_at,
                perm_id=execution.permId or None,
                cum_quantity=ib_decimal(execution.cumQty),
                avg_price=ib_decimal(execution.avgPrice),
                external=record is None,
                corrects=earlier.exec_id if earlier is not None else None,
            )
        )

    def on_execDetailsEnd(self, generation: int, req_id: int) -> None:
        if self._current(generation):
            self._executions_end.set()

    def on_commissionReport(self, generation: int, report) -> None:
        if not self._current(generation):
            return
        # reqExecutions after every reconnect sends today's commission reports again: count each once,
        # or the daily-loss limit would see the same realized loss twice.
        if report.execId in self._seen_commissions:
            return
        self._seen_commissions.add(report.execId)
        pnl = report.realizedPNL
        realized = ib_decimal(pnl) if pnl is not None and abs(pnl) < UNSET_DOUBLE_LIMIT else None
        account, day, _ = self._exec_accounts.get(report.execId, (None, None, None))
        if realized is not None and account:
            # A corrected execution's PnL replaces the figure of the execution it corrects.
            delta = self._revisions.realized_delta(report.execId, realized)
            if delta:
                self.gate.add_realized_pnl(account, delta, day)
        self.emit(
            m.OrderCommission(
                exec_id=report.execId,
                commission=ib_decimal(report.commission),
                currency=report.currency or "USD",
                realized_pnl=realized,
            )
        )
