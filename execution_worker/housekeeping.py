"""Housekeeping: the heartbeat event, the risk limits read again, new market-data subscriptions, and
forgetting what has aged out, so memory and Redis stay bounded however long the worker runs.

``housekeeping_step`` is the housekeeping thread's single step. Mixed into ``worker.Worker``.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis

from execution_worker import messages as m
from execution_worker.broker import NotConnected, SendFailed
from execution_worker.risk import Limits, LimitsError
from execution_worker.session import EXEC_MAX_WINDOW
from execution_worker.store import APPLIED_RETENTION_MS

log = logging.getLogger("execution_worker")

# Final orders are forgotten after a week; a redelivery older than that cannot exist (streams are trimmed).
RECORD_RETENTION_NS = 7 * 24 * 3600 * 1_000_000_000
# How often housekeeping forgets what has aged out (applied command ids, old orders and executions).
PRUNE_INTERVAL_S = 60.0
# Executions are remembered (not reported twice) a day longer than the longest window asked for.
EXEC_RETENTION = EXEC_MAX_WINDOW + timedelta(days=1)
EXTERNAL_RETENTION_S = 24 * 3600.0
# A symbol asked for through the wanted set: a US stock ticker as IB spells it (BRK B, BF.B, …).
WANTED_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\- ]{0,15}$")


class HousekeepingMixin:
    """The housekeeping thread's step and what it keeps: heartbeat, limits, pruning."""

    def housekeeping_step(self) -> None:
        """Once a second: heartbeat event, limits re-read, new market-data subscriptions."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.config.heartbeat_event_interval
            self.emit(self.heartbeat())
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_INTERVAL_S
            self.store.prune_commands(time.time_ns() // 1_000_000 - APPLIED_RETENTION_MS)
            self.prune_memory()
        if now >= self._next_limits:
            self._next_limits = now + self.config.limits_interval
            self.reload_limits()
            self.read_wanted_symbols()
            if self.ready.is_set() and self._md_symbols - set(self._md_requested):
                try:
                    self._subscribe_market_data()
                except (NotConnected, SendFailed):
                    pass
        self.shutdown.wait(0.05)

    def prune_memory(self) -> tuple[int, int, int]:
        """Forget what has aged out, so memory stays bounded however long the worker runs: final orders
        created over a week ago (in Redis too) with their id maps, executions older than any window
        reconciliation asks for, external orders' last statuses after a day. Returns how many orders,
        executions and external orders were forgotten."""
        with self.book.lock:
            records = dict(self.book.records)
        before = set(records)
        old_orders = self.store.prune(records, older_than_ns=time.time_ns() - RECORD_RETENTION_NS)
        if old_orders:
            with self.book.lock:
                for coid in before - set(records):
                    record = self.book.records.pop(coid)
                    if self.book.by_order_id.get(record.order_id) == coid:
                        del self.book.by_order_id[record.order_id]
                    if self.book.by_perm_id.get(record.perm_id) == coid:
                        del self.book.by_perm_id[record.perm_id]
                    self._last_status.pop(record.order_id, None)
                    self._exec_totals.pop(coid, None)
        cutoff = datetime.now(UTC) - EXEC_RETENTION
        old_execs = [x for x, (_, _, at) in list(self._exec_accounts.items()) if at < cutoff]
        for exec_id in old_execs:
            self._exec_accounts.pop(exec_id, None)
            self._seen_exec_ids.discard(exec_id)
            self._seen_commissions.discard(exec_id)
        horizon = time.monotonic() - EXTERNAL_RETENTION_S
        old_external = [p for p, (_, at) in list(self._external_seen.items()) if at < horizon]
        for perm_id in old_external:
            self._external_seen.pop(perm_id, None)
        return old_orders, len(old_execs), len(old_external)

    def heartbeat(self) -> m.WorkerHeartbeat:
        return m.WorkerHeartbeat(
            worker=self.name[:128],
            started_at=self.started_ns,
            in_flight=len(self._in_flight),
            pacing_tokens=Decimal(f"{self.pacing.tokens:.3f}"),
            state=self.state,
            halted=tuple(sorted(self.gate.halts)),
            orders_sent=self.orders_sent,
            orders_rejected=self.orders_rejected,
            pacing_violations=self.pacing_violations,
            latency_ms=self.path_ms.summary(),
            queue_ms=self.queue_ms.summary(),
            gate_ms=self.gate_ms.summary(),
            work_ms=self.work_ms.summary(),
        )

    def read_wanted_symbols(self) -> None:
        """Add the symbols of ``{prefix}:md:wanted`` (the desk's watchlists) to the quote subscriptions.

        The set is Django's to write; what is not a ticker is left out (logged once), and no more
        than ``config.md_max_lines`` symbols are ever subscribed: TWS allows an account a fixed number
        of market-data lines (100 by default), and the order path's symbols come first.
        """
        try:
            wanted = self.redis.smembers(self.names.md_wanted)
        except redis.RedisError as error:
            log.warning("the wanted symbols could not be read: %s", error)
            return
        for raw in sorted(wanted):
            symbol = raw.decode() if isinstance(raw, bytes) else str(raw)
            if symbol in self._md_symbols:
                continue
            if not WANTED_SYMBOL.match(symbol):
                if symbol not in self._md_refused:
                    self._md_refused.add(symbol)
                    log.warning("wanted symbol %r is not a ticker; not subscribed", symbol[:40])
                continue
            if len(self._md_symbols) >= self.config.md_max_lines:
                if symbol not in self._md_refused:
                    self._md_refused.add(symbol)
                    log.warning(
                        "wanted symbol %s not subscribed: %d market-data lines in use", symbol, len(self._md_symbols)
                    )
                continue
            self._md_symbols.add(symbol)

    def reload_limits(self) -> None:
        """Read the limits of every account TWS manages (one MGET of ``{prefix}:risk:limits:{ACCOUNT}``).

        Unreadable JSON leaves the account without limits, so its orders are refused (fail closed).
        """
        accounts = sorted(self.gate.accounts)
        if not accounts:
            return
        values = self.redis.mget([self.names.risk_limits(a) for a in accounts])
        for account, raw in zip(accounts, values, strict=True):
            if raw is None:
                self.gate.set_limits(account, None)
                continue
            try:
                limits = Limits.from_json(raw)
            except LimitsError as error:
                log.error("limits of %s are unreadable: %s", account, error)
                self.gate.set_limits(account, None, str(error))
                continue
            self.gate.set_limits(account, limits)
            self._md_symbols |= limits.allowed_symbols
