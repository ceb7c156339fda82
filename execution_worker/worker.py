"""The execution worker: command stream -> idempotency -> risk gate -> pacing -> ibapi, and callbacks -> events.

Threads, each a loop over one single-step method that tests can call directly:

- ``command_step``: due scheduled orders, then a batch from ``{prefix}:commands`` (own pending
  entries first, entries of dead consumers claimed now and then), handled in order; placeOrder is
  called from this thread under the pacing bucket; an entry is acknowledged after its effect.
- ``connection_step``: the one reconnect loop: connect under a watchdog, reconcile, watch the
  heartbeat, back off with jitter when TWS is gone.
- ``housekeeping_step``: heartbeat event, risk limits re-read, market-data subscriptions.
- ``publish_step``: writes queued events (and record updates) to Redis in pipelines.

ibapi's own threads run the callbacks (``on_*``, in ``callbacks.py``); they translate, update
memory and enqueue. The session (connect, reconnect, reconcile) is in ``session.py``.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import redis

from execution_worker import messages as m
from execution_worker.book import OrderBook
from execution_worker.broker import Connection, NotConnected, SendFailed
from execution_worker.callbacks import CallbackMixin
from execution_worker.chains import ChainMixin
from execution_worker.commands import CommandIntake
from execution_worker.config import WorkerConfig, default_worker_name
from execution_worker.messages.consumer import Entry, StreamConsumer
from execution_worker.pacing import TokenBucket
from execution_worker.publisher import Publisher
from execution_worker.risk import GLOBAL, Limits, LimitsError, RiskGate
from execution_worker.sending import SendMixin
from execution_worker.session import (
    ACCOUNT_TAGS,
    EXEC_MAX_WINDOW,
    REQ_ACCOUNT_SUMMARY,
    REQ_EXECUTIONS,
    SessionMixin,
    executions_filter,
)
from execution_worker.stats import Window
from execution_worker.store import APPLIED_RETENTION_MS, OrderRecord, Store

log = logging.getLogger("execution_worker")

# Final orders are forgotten after a week; a redelivery older than that cannot exist (streams are trimmed).
RECORD_RETENTION_NS = 7 * 24 * 3600 * 1_000_000_000
# How late a blocked XREADGROUP may return after its timeout (Redis checks timeouts at its hz).
REDIS_BLOCK_SLACK_MS = 150
# How often housekeeping forgets what has aged out (applied command ids, old orders and executions).
PRUNE_INTERVAL_S = 60.0
# Executions are remembered (not reported twice) a day longer than the longest window asked for.
EXEC_RETENTION = EXEC_MAX_WINDOW + timedelta(days=1)
EXTERNAL_RETENTION_S = 24 * 3600.0


class Worker(SessionMixin, CallbackMixin, SendMixin, ChainMixin):
    """The execution worker. Build it, then ``start()`` its threads or drive the ``*_step`` methods."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.names = m.StreamNames(config.prefix)
        self.redis = redis.Redis.from_url(config.redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.store = Store(self.redis, config.prefix)
        self.publisher = Publisher(
            self.redis,
            events_stream=self.names.events,
            orders_key=self.store.orders_key,
            events_maxlen=config.events_maxlen,
        )
        self.intake = CommandIntake(config, self.names, self.publisher, self.handle)
        self.gate = RiskGate(require_limits=config.require_limits)
        self.pacing = TokenBucket(config.pacing_rate, config.pacing_burst)
        self.name = default_worker_name(config)
        self.started_ns = time.time_ns()
        self.shutdown = threading.Event()
        self.ready = threading.Event()
        self.state = "disconnected"
        self.server_version: int | None = None
        self.book = OrderBook()
        self._threads: list[threading.Thread] = []
        # Orders.
        self._scheduled: list[tuple[int, str]] = []
        # client_order_ids whose claim in Redis failed: the script may have run with only its reply
        # lost, so the redelivery looks up what was stored (see _resume_recorded).
        self._records_unsure: set[str] = set()
        self._seen_exec_ids: set[str] = set()
        self._seen_commissions: set[str] = set()
        self._exec_accounts: dict[str, tuple] = {}
        self._last_exec_at = None  # the latest execution time seen (UTC), where reconciliation resumes
        self._last_status: dict[int, tuple] = {}
        self._external_seen: dict[int, tuple] = {}
        self._in_flight: dict[str, float] = {}
        self._retry_103: set[str] = set()
        # Connection.
        self.connection: Connection | None = None
        self.generation = 0
        self._got_next_id = threading.Event()
        self._open_orders_end = threading.Event()
        self._executions_end = threading.Event()
        self._positions_end = threading.Event()
        self._recon_refs: set[str] = set()
        self._recon_exec_refs: set[str] = set()
        self._exec_totals: dict[str, tuple[Decimal, Decimal]] = {}
        self._reconcile_requested = False
        self._lost_reason = ""
        self._backoff = config.backoff_initial
        self._next_attempt = 0.0
        self._last_rx = 0.0
        self._last_ping = 0.0
        self._positions_streaming = False
        # Positions and account values as TWS reports them.
        self._positions: dict[str, dict[str, dict]] = {}
        self._account_values: dict[str, dict[str, str]] = {}
        self._account_values_ready = False
        self._account_summary_requested = False
        self._data_lost = False
        # Market data.
        self._md_symbols: set[str] = set(config.md_symbols)
        self._md_requested: dict[str, int] = {}
        self._md_by_req: dict[int, str] = {}
        self._quotes: dict[str, dict[str, Decimal]] = {}
        # Timers of the housekeeping loop.
        self._next_heartbeat = 0.0
        self._next_limits = 0.0
        self._next_prune = 0.0
        # Figures.
        self.path_ms = Window()
        self.queue_ms = Window()
        self.gate_ms = Window(8192)
        self.work_ms = Window()
        self.orders_sent = 0
        self.orders_rejected = 0
        self.pacing_violations = 0

    # =========================================================================================
    # Life cycle
    # =========================================================================================

    def load(self) -> None:
        """Load durable state (orders, highest orderId, halts), create the command group, read limits."""
        self.intake.hold_connection()
        records, max_id, halts = self.store.load()
        # The highest orderId is kept even when the orders that used it are pruned.
        for record in records.values():
            max_id = max(max_id, record.order_id)
        self.store.prune(records, older_than_ns=time.time_ns() - RECORD_RETENTION_NS)
        self.book.load(records, max_id)
        for record in records.values():
            if record.state == "scheduled" and record.not_before is not None:
                heapq.heappush(self._scheduled, (record.not_before, record.client_order_id))
            if not record.final:
                self._md_symbols.add(record.symbol)
        self.gate.set_halts(halts)
        self.intake.consumer.ensure_group()
        self.reload_limits()

    def start(self) -> None:
        """Load state (waiting for Redis if it is not up yet) and start every loop in its own thread."""
        delay = 0.5
        while not self.shutdown.is_set():
            try:
                self.load()
                break
            except redis.RedisError as error:
                log.error("cannot load state from Redis (%s); retrying in %.1f s", error, delay)
                self.shutdown.wait(delay)
                delay = min(delay * 2, 10.0)
        if self.shutdown.is_set():
            return
        for name, loop in (
            ("publisher", self.publisher.run),
            ("connection", self._connection_loop),
            ("housekeeping", self._housekeeping_loop),
            ("commands", self._command_loop),
        ):
            thread = threading.Thread(target=loop, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loops, publish what is queued, close the TWS socket."""
        self.shutdown.set()
        for thread in self._threads:
            if thread.name != "publisher":
                thread.join(timeout)
        if self.connection is not None:
            self.connection.close()
        self.emit(m.GatewayStatus(state="disconnected", detail="worker stopped"))
        self.publisher.closing = True
        for thread in self._threads:
            if thread.name == "publisher":
                thread.join(timeout)
        self.redis.close()
        self.intake.redis.close()

    def _loop(self, step, idle: float, on_redis_error=None) -> None:
        while not self.shutdown.is_set():
            try:
                step()
            except redis.RedisError:
                log.exception("Redis error in %s; retrying", step.__name__)
                if on_redis_error is not None:
                    on_redis_error()
                self.shutdown.wait(0.5)
            except Exception:
                log.exception("unexpected error in %s; continuing", step.__name__)
                self.shutdown.wait(idle)

    def _command_loop(self) -> None:
        # Entries of a batch cut short by a Redis error are still pending: read them first again.
        self._loop(self.command_step, 0.1, self.intake.consumer.restart_pending)

    def _connection_loop(self) -> None:
        self._loop(self.connection_step, 0.1)

    def _housekeeping_loop(self) -> None:
        self._loop(self.housekeeping_step, 0.2)

    # =========================================================================================
    # Events out
    # =========================================================================================

    def emit(self, message: m.Message, *, stream: str | None = None, maxlen: int | None = None) -> None:
        """Queue an event for ``{prefix}:events`` (or ``stream``); the publisher writes it in order."""
        self.publisher.emit(message, stream=stream, maxlen=maxlen)

    def publish_step(self, wait: float = 0.1) -> int:
        """The publisher thread's step (``Publisher.publish_step``)."""
        return self.publisher.publish_step(wait)

    def _reject(
        self,
        coid: str,
        code: str,
        reason: str,
        *,
        action: str = "place",
        order_id: int | None = None,
        command_id: str | None = None,
    ) -> None:
        self.orders_rejected += 1
        self.emit(
            m.OrderRejected(
                client_order_id=coid,
                code=code,
                reason=reason,
                action=action,
                order_id=order_id,
                command_id=command_id or None,
            )
        )

    # =========================================================================================
    # Commands
    # =========================================================================================

    def command_step(self) -> int:
        """Send due scheduled orders, then read and handle one batch of commands; return entries handled.

        Nothing is read until TWS is connected and reconciled (invariant 6): commands wait in the stream.
        Held orders are dispatched after the batch, so a halt already in the stream is applied first.
        """
        if not self.ready.is_set():
            self.ready.wait(0.05)
            return 0
        if self.intake.pending_backoff:
            self.shutdown.wait(self.intake.pending_backoff)
        entries = self.intake.read(self._block_ms)
        if entries:
            self.intake.handle_entries(entries)
        self._dispatch_due()
        if not entries and self._block_ms() is None:
            self._sleep_until_due()
        return len(entries)

    def _block_ms(self) -> int | None:
        """How long XREADGROUP may block; None (do not block) when a held order is due sooner.

        Redis times blocked reads out on its own clock, tens of ms coarse, so a due order is waited
        for here, in Python, to meet its not_before within a few ms.
        """
        block = self.config.block_ms
        # An idle Redis wakes only at its cron rate (hz 10: every 100 ms), so a 20 ms block can last
        # 100 ms: blocking stops well before the due time, not just block_ms before it.
        horizon_ms = block + REDIS_BLOCK_SLACK_MS
        if self._scheduled and (self._scheduled[0][0] - time.time_ns()) <= horizon_ms * 1_000_000:
            return None
        return block

    def _sleep_until_due(self) -> None:
        if self._scheduled:
            due_in = (self._scheduled[0][0] - time.time_ns()) / 1e9
            if due_in > 0:
                time.sleep(min(due_in, self.config.block_ms / 1000.0))

    def handle_entries(self, entries: list[Entry]) -> None:
        """Decode and apply a batch of command entries (``CommandIntake.handle_entries``)."""
        self.intake.handle_entries(entries)

    @property
    def commands(self) -> StreamConsumer:
        """The command stream's consumer (the command thread's)."""
        return self.intake.consumer

    @property
    def command_redis(self) -> redis.Redis:
        """The command thread's own Redis client."""
        return self.intake.redis

    @property
    def command_store(self) -> Store:
        """The worker's durable state through the command thread's client: for that thread only."""
        return self.intake.store

    def handle(self, message: m.Message, received: float | None = None) -> None:
        """Apply one decoded command. Raises NotConnected / RedisError to leave it pending."""
        kind = type(message)
        if kind is m.OrderPlace:
            self.place(message, received if received is not None else time.perf_counter())
        elif kind is m.OrderCancel:
            self.cancel(message)
        elif kind is m.OrderModify:
            self.modify(message)
        elif kind is m.TradingHalt:
            self.halt(message)
        elif kind is m.TradingResume:
            self.resume(message)
        elif kind is m.BrokerRefresh:
            self.refresh(message.what)

    # --- order.place -----------------------------------------------------------------------------

    def place(self, order: m.OrderPlace, received: float) -> None:
        """Idempotency, then (or at not_before) the gate, then record-before-send and placeOrder."""
        if order.children is not None:
            self.place_chain(order, received)
            return
        coid = order.client_order_id
        existing = self.book.records.get(coid)
        if existing is not None:
            # A redelivered or repeated command: never placed twice (invariant 2). A refusal is repeated
            # because its event may have been lost with a crash before the acknowledgement. An order
            # the session went away from before a byte was written goes through the gate again.
            if existing.state == "rejected":
                self._reject(coid, existing.reject_code, existing.reject_reason, command_id=order.id)
            elif existing.state == "unsent":
                self._gate_and_send(existing, order, order.ts, received)
            return
        if coid in self._records_unsure and self._resume_recorded(order, received):
            return
        record = OrderRecord(
            client_order_id=coid,
            account=order.account,
            symbol=order.symbol,
            side=order.side,
            quantity=m.plain_decimal(order.quantity),
            order_type=order.order_type,
            limit_price=None if order.limit_price is None else m.plain_decimal(order.limit_price),
            stop_price=None if order.stop_price is None else m.plain_decimal(order.stop_price),
            tif=order.tif,
            sec_type=order.sec_type,
            exchange=order.exchange,
            currency=order.currency,
            outside_rth=order.outside_rth,
            oca_group=order.oca_group,
            oca_type=order.oca_type or 0,
            parent_client_order_id=order.parent_client_order_id or "",
            not_before=order.not_before,
            created_ns=time.time_ns(),
            command_id=order.id,
        )
        if record.parent_client_order_id and self._refuse_orphan(record):
            return
        if order.not_before is not None and order.not_before > time.time_ns() + 2_000_000:
            record.state = "scheduled"
            if not self._record_new(record):
                return
            with self.book.lock:
                self.book.records[coid] = record
                heapq.heappush(self._scheduled, (order.not_before, coid))
            return
        self._gate_and_send(record, order, order.ts, received)

    def _gate_and_send(self, record: OrderRecord, order, producer_ts: int, received: float) -> None:
        coid = record.client_order_id
        # Before the gate: an admitted order counts toward the rate and duplicate windows, and
        # the redelivery after the reconnect must not be refused as its own duplicate.
        self._require_ready()
        working = self._working_quantity(record.account, record.symbol, record.side, exclude=coid)
        refusal = self.gate.admit(order, time.monotonic(), working)
        self.gate_ms.add((time.perf_counter() - received) * 1000.0)
        recorded = coid in self.book.records
        if refusal is not None:
            record.state = "rejected"
            record.reject_code, record.reject_reason = refusal.code, refusal.reason
            if recorded:
                self.command_store.save(record)
            elif not self._record_new(record):
                return
            self.book.records[coid] = record
            self._reject(coid, refusal.code, refusal.reason, command_id=record.command_id)
            return
        with self.book.lock:
            order_id = self.book.allocate()
            record.order_id = order_id
            record.state = "placing"
            record.placed_ns = time.time_ns()
        # A held or unsent order is recorded already: bound to its fresh orderId, it is not claimed anew.
        self._send_order(record, producer_ts, received, mode="allocate" if recorded else "new")

    def _record_new(self, record: OrderRecord) -> bool:
        """``Store.record_new``, remembering an order whose claim failed: Redis may have run it and
        lost only the reply, which the redelivery must find out (``_resume_recorded``).

        :raises redis.RedisError: the claim failed or its reply was lost (the command stays pending).
        """
        try:
            return self.command_store.record_new(record)
        except redis.RedisError:
            self._records_unsure.add(record.client_order_id)
            raise

    def _resume_recorded(self, order: m.OrderPlace, received: float) -> bool:
        """Finish an order whose claim's reply was lost; False if Redis never stored it (place it anew).

        A record stored but never taken into memory was never sent: this process sends only after
        the reply, and records of earlier processes are loaded at start. So a ``placing`` record
        goes through the gate again (a halt may have come since) and is sent under its recorded
        orderId, once; a refusal is repeated; a held order is held again. Without this the
        redelivery found the claim taken and returned: no placeOrder and no event, an order
        silently lost.

        :raises redis.RedisError, NotConnected: still unable (the command stays pending, still unsure).
        """
        coid = order.client_order_id
        stored = self.command_store.record_get(coid)
        if stored is None:
            self._records_unsure.discard(coid)
            return False
        if stored.state == "placing":
            self._require_ready()
        self._records_unsure.discard(coid)
        log.warning("order %s was recorded but its reply lost; resuming it (%s)", coid, stored.state)
        with self.book.lock:
            self.book.records[coid] = stored
            if stored.order_id is not None:
                self.book.by_order_id[stored.order_id] = coid
                self.book.max_order_id = max(self.book.max_order_id, stored.order_id)
            if stored.state == "scheduled":
                heapq.heappush(self._scheduled, (stored.not_before, coid))
        if stored.state == "rejected":
            self._reject(coid, stored.reject_code, stored.reject_reason, command_id=order.id)
        elif stored.state == "placing":
            working = self._working_quantity(stored.account, stored.symbol, stored.side, exclude=coid)
            refusal = self.gate.admit(order, time.monotonic(), working)
            if refusal is not None:
                stored.state = "rejected"
                stored.reject_code, stored.reject_reason = refusal.code, refusal.reason
                self.command_store.save(stored)
                self._reject(coid, refusal.code, refusal.reason, command_id=stored.command_id)
            else:
                self._send_order(stored, order.ts, received)
        return True

    def _working_quantity(self, account: str, symbol: str, side: str, *, exclude: str) -> Decimal:
        """The unfilled quantity of the account's other live orders in ``symbol`` on ``side`` (held,
        in flight, working or of unknown outcome), which max_position counts as if it filled.
        Zero when the account has no max_position (the scan is skipped)."""
        limits = self.gate.limits.get(account)
        if limits is None or limits.max_position is None:
            return Decimal(0)
        total = Decimal(0)
        for record in list(self.book.records.values()):
            if (
                record.account != account
                or record.symbol != symbol
                or record.side != side
                or record.final
                or record.client_order_id == exclude
            ):
                continue
            remaining = Decimal(record.quantity) - record.extra.get("filled", Decimal(0))
            if remaining > 0:
                total += remaining
        return total

    def _require_ready(self) -> None:
        """Orders go out only on a connected, reconciled session (invariant 6): after 1100, or while a
        reconnect reconciles, the command is held (left pending, or the held order kept), not refused.

        :raises NotConnected: the session is not ready.
        """
        if not self.ready.is_set():
            raise NotConnected(f"the TWS session is not ready ({self.state})")
        if not self.connected:
            raise NotConnected("TWS is not connected")

    @property
    def connected(self) -> bool:
        connection = self.connection
        return connection is not None and connection.client.isConnected()

    def _dispatch_due(self) -> None:
        """Gate and send scheduled orders whose not_before has come (within the loop's short block)."""
        if not self._scheduled:
            return
        now_ns = time.time_ns()
        while self._scheduled and self._scheduled[0][0] <= now_ns:
            if not self.ready.is_set():
                return
            _, coid = heapq.heappop(self._scheduled)
            record = self.book.records.get(coid)
            if record is None or record.state != "scheduled":
                continue
            order = _GateView(record)
            try:
                self._gate_and_send(record, order, None, time.perf_counter())
                log.info(
                    "held order %s sent %.1f ms after not_before", coid, (time.time_ns() - record.not_before) / 1e6
                )
            except (NotConnected, redis.RedisError):
                heapq.heappush(self._scheduled, (record.not_before, coid))
                return

    # --- cancel / modify -------------------------------------------------------------------------

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
        """Re-send a working order with the same orderId and new quantity/prices, after the gate.

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
        limit_price = command.limit_price if command.limit_price is not None else _opt_dec(record.limit_price)
        stop_price = command.stop_price if command.stop_price is not None else _opt_dec(record.stop_price)
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
        record.extra["action"] = "modify"
        # The next status TWS reports names this command, and is emitted even when the status words
        # and figures repeat (a price-only modify changes neither).
        record.extra["command_id"] = command.id
        self._last_status.pop(record.order_id, None)
        self._send_order(record, changes=changes)

    # --- halt / resume / refresh -----------------------------------------------------------------

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
        account = command.account or GLOBAL
        self.command_store.clear_halt(account)
        halts = dict(self.gate.halts)
        halts.pop(account, None)
        self.gate.set_halts(halts)

    def refresh(self, what: tuple[str, ...]) -> None:
        """Ask TWS again for the named data (answers arrive as events)."""
        if "open_orders" in what:
            self._call("reqAllOpenOrders")
        if "executions" in what:
            self._call("reqExecutions", REQ_EXECUTIONS, executions_filter(self._last_exec_at))
        if "positions" in what:
            if self._positions_streaming:
                self._call("cancelPositions")
            self._positions.clear()
            self._call("reqPositions")
        if "account" in what:
            self._call("cancelAccountSummary", REQ_ACCOUNT_SUMMARY)
            self._call("reqAccountSummary", REQ_ACCOUNT_SUMMARY, "All", ACCOUNT_TAGS)

    def _call(self, method: str, *args) -> None:
        """Send one request to TWS under the pacing bucket.

        :raises NotConnected: no session (nothing sent). :raises SendFailed: the socket failed mid-write.
        """
        connection = self.connection
        if connection is None or not connection.client.isConnected():
            raise NotConnected("TWS is not connected")
        self.pacing.acquire()
        try:
            getattr(connection.client, method)(*args)
        except (OSError, AttributeError) as error:
            raise SendFailed(f"{method} failed: {error!r}")

    # =========================================================================================
    # Housekeeping
    # =========================================================================================

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


class _GateView:
    """A scheduled record seen by the gate as an order (Decimal quantity and prices)."""

    __slots__ = ("account", "client_order_id", "limit_price", "order_type", "quantity", "side", "stop_price", "symbol")

    def __init__(self, record: OrderRecord) -> None:
        self.client_order_id = record.client_order_id
        self.account = record.account
        self.symbol = record.symbol
        self.side = record.side
        self.quantity = Decimal(record.quantity)
        self.order_type = record.order_type
        self.limit_price = _opt_dec(record.limit_price)
        self.stop_price = _opt_dec(record.stop_price)


class _ModifyView:
    __slots__ = ("limit_price", "stop_price")

    def __init__(self, limit_price, stop_price) -> None:
        self.limit_price = limit_price
        self.stop_price = stop_price


def _opt_dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


__all__ = ["NotConnected", "SendFailed", "Worker"]
