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
memory and enqueue.
"""

from __future__ import annotations

import heapq
import logging
import queue
import random
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal

import redis
from ibapi.execution import ExecutionFilter

from execution_worker import messages as m
from execution_worker.broker import Connection, make_contract, make_order, open_connection
from execution_worker.callbacks import CallbackMixin
from execution_worker.config import WorkerConfig, default_worker_name
from execution_worker.faults import faultpoint
from execution_worker.pacing import TokenBucket
from execution_worker.redis_streams import Entry, StreamConsumer
from execution_worker.risk import GLOBAL, Limits, LimitsError, RiskGate
from execution_worker.stats import Window
from execution_worker.store import FINAL_STATES, OrderRecord, Store

log = logging.getLogger("execution_worker")

ACCOUNT_TAGS = "NetLiquidation,TotalCashValue,BuyingPower,AvailableFunds,ExcessLiquidity,GrossPositionValue,RealizedPnL,UnrealizedPnL"  # noqa: E501
# Final orders are forgotten after a week; a redelivery older than that cannot exist (streams are trimmed).
RECORD_RETENTION_NS = 7 * 24 * 3600 * 1_000_000_000
REQ_EXECUTIONS = 9001
REQ_ACCOUNT_SUMMARY = 9002
REQ_MD_BASE = 10_000


class NotConnected(Exception):
    """TWS is not connected; nothing was sent."""


class SendFailed(Exception):
    """The socket failed while a request was being written; whether TWS got it is unknown."""


class Worker(CallbackMixin):
    """The execution worker. Build it, then ``start()`` its threads or drive the ``*_step`` methods."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.names = m.StreamNames(config.prefix)
        self.redis = redis.Redis.from_url(config.redis_url, socket_timeout=5, socket_connect_timeout=5)
        # The command loop blocks in XREADGROUP; it gets a connection of its own.
        self.command_redis = redis.Redis.from_url(config.redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.store = Store(self.redis, config.prefix)
        self.commands = StreamConsumer(
            self.command_redis,
            stream=self.names.commands,
            group=m.COMMANDS_GROUP,
            consumer=config.consumer,
            dlq=self.names.dlq,
            min_idle_ms=config.claim_idle_ms,
            max_deliveries=config.max_deliveries,
        )
        self.gate = RiskGate(require_limits=config.require_limits)
        self.pacing = TokenBucket(config.pacing_rate, config.pacing_burst)
        self.name = default_worker_name(config)
        self.started_ns = time.time_ns()
        self.shutdown = threading.Event()
        self.ready = threading.Event()
        self.state = "disconnected"
        self.server_version: int | None = None
        self._lock = threading.RLock()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._events_maxlen = config.events_maxlen
        self._threads: list[threading.Thread] = []
        # Orders.
        self.records: dict[str, OrderRecord] = {}
        self.by_order_id: dict[int, str] = {}
        self.by_perm_id: dict[int, str] = {}
        self.max_order_id = 0
        self.next_valid_id = 0
        self._scheduled: list[tuple[int, str]] = []
        self._seen_exec_ids: set[str] = set()
        self._seen_commissions: set[str] = set()
        self._exec_accounts: dict[str, str] = {}
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
        self._next_claim = 0.0
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
        records, max_id, halts = self.store.load()
        # The highest orderId is kept even when the orders that used it are pruned.
        for record in records.values():
            max_id = max(max_id, record.order_id)
        self.store.prune(records, older_than_ns=time.time_ns() - RECORD_RETENTION_NS)
        self.records = records
        self.max_order_id = max_id
        for record in records.values():
            if record.order_id:
                self.by_order_id[record.order_id] = record.client_order_id
                self.max_order_id = max(self.max_order_id, record.order_id)
            if record.perm_id:
                self.by_perm_id[record.perm_id] = record.client_order_id
            if record.state == "scheduled" and record.not_before is not None:
                heapq.heappush(self._scheduled, (record.not_before, record.client_order_id))
            if not record.final:
                self._md_symbols.add(record.symbol)
        self.gate.set_halts(halts)
        self.commands.ensure_group()
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
            ("publisher", self._publish_loop),
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
        self.shutdown_publisher = True
        for thread in self._threads:
            if thread.name == "publisher":
                thread.join(timeout)
        self.redis.close()
        self.command_redis.close()

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
        self._loop(self.command_step, 0.1, self.commands.restart_pending)

    def _connection_loop(self) -> None:
        self._loop(self.connection_step, 0.1)

    def _housekeeping_loop(self) -> None:
        self._loop(self.housekeeping_step, 0.2)

    shutdown_publisher = False

    def _publish_loop(self) -> None:
        while True:
            try:
                published = self.publish_step(0.1)
            except redis.RedisError:
                log.exception("could not publish events; retrying")
                time.sleep(0.5)
                continue
            if self.shutdown_publisher and not published and self._events.empty():
                return

    # =========================================================================================
    # Events out
    # =========================================================================================

    def emit(self, message: m.Message, *, stream: str | None = None, maxlen: int | None = None) -> None:
        """Queue an event for ``{prefix}:events`` (or ``stream``); the publisher writes it in order."""
        self._events.put(("xadd", stream or self.names.events, m.encode(message), maxlen or self._events_maxlen))

    def _persist(self, record: OrderRecord) -> None:
        """Queue a write of ``record`` behind the events already queued (callbacks never block on Redis)."""
        self._events.put(("hset", self.store.orders_key, record.client_order_id, record.to_json()))

    def publish_step(self, wait: float = 0.1) -> int:
        """Write every queued event and record in one pipeline; return how many were written.

        On a Redis error the batch is put back in front so nothing is lost or reordered.
        """
        try:
            first = self._events.get(timeout=wait)
        except queue.Empty:
            return 0
        batch = [first]
        while len(batch) < 500:
            try:
                batch.append(self._events.get_nowait())
            except queue.Empty:
                break
        pipe = self.redis.pipeline(transaction=False)
        for item in batch:
            if item[0] == "xadd":
                _, stream, fields, maxlen = item
                if maxlen:
                    pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)
                else:
                    pipe.xadd(stream, fields)
            else:
                _, key, name, value = item
                pipe.hset(key, name, value)
        try:
            pipe.execute()
        except redis.RedisError:
            rest = []
            while True:
                try:
                    rest.append(self._events.get_nowait())
                except queue.Empty:
                    break
            for item in batch + rest:
                self._events.put(item)
            raise
        return len(batch)

    def _reject(self, coid: str, code: str, reason: str, *, action: str = "place", order_id: int | None = None) -> None:
        self.orders_rejected += 1
        self.emit(m.OrderRejected(client_order_id=coid, code=code, reason=reason, action=action, order_id=order_id))

    # =========================================================================================
    # Commands
    # =========================================================================================

    def command_step(self) -> int:
        """Send due scheduled orders, then read and handle one batch of commands; return entries handled.

        Nothing is read until TWS is connected and reconciled (invariant 6): commands wait in the stream.
        """
        self._dispatch_due()
        if not self.ready.is_set():
            self.ready.wait(0.05)
            return 0
        now = time.monotonic()
        entries: list[Entry] = []
        if now >= self._next_claim:
            self._next_claim = now + self.config.claim_interval
            entries = self.commands.claim_stale(self.config.read_count)
        if not entries:
            block_ms = self._block_ms()
            entries = self.commands.read(self.config.read_count, block_ms)
            if not entries and block_ms is None:
                self._sleep_until_due()
        if not entries:
            return 0
        self.handle_entries(entries)
        return len(entries)

    def _block_ms(self) -> int | None:
        """How long XREADGROUP may block; None (do not block) when a held order is due sooner.

        Redis times blocked reads out on its own clock, tens of ms coarse, so a due order is waited
        for here, in Python, to meet its not_before within a few ms.
        """
        block = self.config.block_ms
        if self._scheduled and (self._scheduled[0][0] - time.time_ns()) <= block * 1_000_000:
            return None
        return block

    def _sleep_until_due(self) -> None:
        if self._scheduled:
            due_in = (self._scheduled[0][0] - time.time_ns()) / 1e9
            if due_in > 0:
                time.sleep(min(due_in, self.config.block_ms / 1000.0))

    def handle_entries(self, entries: list[Entry]) -> None:
        """Decode and handle a batch; halts go first so commands queued behind a kill switch are refused."""
        decoded: list[tuple[Entry, m.Message, float]] = []
        for entry in entries:
            faultpoint("after_read_before_place")
            started = time.perf_counter()
            try:
                message = m.decode(entry.fields)
            except m.MessageError as error:
                log.warning("dead-lettering entry %s: %s (%s)", entry.entry_id, error, error.code)
                self.commands.dead_letter(entry, code=error.code, reason=str(error))
                continue
            if type(message) not in m.COMMAND_TYPES:
                self.commands.dead_letter(
                    entry, code=m.UNKNOWN_TYPE, reason=f"{message.TYPE} is an event, not a command"
                )
                continue
            # The decision clock counts this entry's own decode, not the time earlier entries took.
            decoded.append((entry, message, time.perf_counter() - started))
        decoded.sort(key=lambda item: type(item[1]) is not m.TradingHalt)
        for entry, message, decode_s in decoded:
            try:
                self.handle(message, time.perf_counter() - decode_s)
            except (NotConnected, SendFailed, redis.RedisError) as error:
                # TWS or Redis went away: this entry and the rest of the batch stay pending, in order,
                # and are read again first once ready. Transient by nature, so never dead-lettered.
                log.warning("command %s left pending: %r", message.id, error)
                self.commands.restart_pending()
                return
            except Exception as error:
                log.exception("command %s failed", message.id)
                if self.commands.should_dead_letter(entry):
                    self.commands.dead_letter(entry, code="worker.failed", reason=repr(error))
                continue
            faultpoint("after_place_before_ack")
            self.commands.ack(entry.entry_id)

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
        coid = order.client_order_id
        existing = self.records.get(coid)
        if existing is not None:
            # A redelivered or repeated command: never placed twice (invariant 2). A refusal is repeated
            # because its event may have been lost with a crash before the acknowledgement.
            if existing.state == "rejected":
                self._reject(coid, existing.reject_code, existing.reject_reason)
            return
        record = OrderRecord(
            client_order_id=coid,
            account=order.account,
            symbol=order.symbol,
            side=order.side,
            quantity=m._plain(order.quantity),
            order_type=order.order_type,
            limit_price=None if order.limit_price is None else m._plain(order.limit_price),
            stop_price=None if order.stop_price is None else m._plain(order.stop_price),
            tif=order.tif,
            sec_type=order.sec_type,
            exchange=order.exchange,
            currency=order.currency,
            outside_rth=order.outside_rth,
            oca_group=order.oca_group,
            not_before=order.not_before,
            created_ns=time.time_ns(),
        )
        if order.not_before is not None and order.not_before > time.time_ns() + 2_000_000:
            record.state = "scheduled"
            if not self.store.record_new(record):
                return
            with self._lock:
                self.records[coid] = record
                heapq.heappush(self._scheduled, (order.not_before, coid))
            return
        self._gate_and_send(record, order, order.ts, received)

    def _gate_and_send(self, record: OrderRecord, order, producer_ts: int, received: float) -> None:
        coid = record.client_order_id
        if not self.connected:
            # Before the gate: an admitted order counts toward the rate and duplicate windows, and
            # the redelivery after the reconnect must not be refused as its own duplicate.
            raise NotConnected("TWS is not connected")
        refusal = self.gate.admit(order, time.monotonic())
        self.gate_ms.add((time.perf_counter() - received) * 1000.0)
        if refusal is not None:
            record.state = "rejected"
            record.reject_code, record.reject_reason = refusal.code, refusal.reason
            if record.not_before is not None and coid in self.records:
                self.store.save(record)
            elif not self.store.record_new(record):
                return
            self.records[coid] = record
            self._reject(coid, refusal.code, refusal.reason)
            return
        with self._lock:
            order_id = max(self.next_valid_id, self.max_order_id + 1)
            self.max_order_id = order_id
            record.order_id = order_id
            record.state = "placing"
            record.placed_ns = time.time_ns()
        if record.not_before is not None and coid in self.records:
            self.store.allocate(record)
        elif not self.store.record_new(record):
            return
        with self._lock:
            self.records[coid] = record
            self.by_order_id[order_id] = coid
        faultpoint("after_record_before_place")
        self._md_symbols.add(record.symbol)
        self._send_order(record, producer_ts, received)

    @property
    def connected(self) -> bool:
        connection = self.connection
        return connection is not None and connection.client.isConnected()

    def _send_order(self, record: OrderRecord, producer_ts: int | None = None, received: float | None = None) -> None:
        contract = make_contract(record.symbol, record.sec_type, record.exchange, record.currency)
        ib_order = make_order(
            client_order_id=record.client_order_id,
            account=record.account,
            side=record.side,
            quantity=record.quantity,
            order_type=record.order_type,
            limit_price=record.limit_price,
            stop_price=record.stop_price,
            tif=record.tif,
            outside_rth=record.outside_rth,
            oca_group=record.oca_group,
        )
        waited = self.pacing.acquire()
        if record.state == "placing":
            self._in_flight[record.client_order_id] = time.monotonic()
        try:
            client = self.connection.client
            client.placeOrder(record.order_id, contract, ib_order)
        except (OSError, AttributeError) as error:
            # Part of the bytes may have reached TWS: the outcome is unknown, never "failed" (invariant 3).
            record.state = "unknown"
            self._persist(record)
            self.emit(
                m.OrderUnknown(
                    client_order_id=record.client_order_id,
                    order_id=record.order_id,
                    reason=f"socket failed during placeOrder: {error!r}",
                )
            )
            return
        if producer_ts is not None:
            self.path_ms.add((time.time_ns() - producer_ts) / 1e6 - waited * 1000.0)
            self.queue_ms.add(waited * 1000.0)
            if received is not None:
                self.work_ms.add((time.perf_counter() - received - waited) * 1000.0)
        self.orders_sent += 1
        if record.state == "placing":
            record.state = "sent"

    def _dispatch_due(self) -> None:
        """Gate and send scheduled orders whose not_before has come (within the loop's short block)."""
        if not self._scheduled:
            return
        now_ns = time.time_ns()
        while self._scheduled and self._scheduled[0][0] <= now_ns:
            if not self.ready.is_set():
                return
            _, coid = heapq.heappop(self._scheduled)
            record = self.records.get(coid)
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
        record = self.records.get(coid)
        if record is None:
            self._reject(coid, "worker.unknown_order", "no order with this client_order_id", action="cancel")
            return
        if record.state == "scheduled":
            record.state = "Cancelled"
            self.store.save(record)
            self._emit_status(record, "Cancelled", Decimal(0), Decimal(record.quantity), Decimal(0))
            return
        if record.final:
            self._reject(coid, "worker.not_cancellable", f"the order is already {record.state}", action="cancel")
            return
        if not record.order_id:
            self._reject(coid, "worker.not_cancellable", "the order was never sent", action="cancel")
            return
        record.extra["action"] = "cancel"
        self._call("cancelOrder", record.order_id)

    def modify(self, command: m.OrderModify) -> None:
        """Re-send a working order with the same orderId and new quantity/prices, after the gate."""
        coid = command.client_order_id
        record = self.records.get(coid)
        if record is None or record.final or not record.order_id:
            state = "unknown" if record is None else record.state
            self._reject(coid, "worker.not_modifiable", f"the order cannot be modified ({state})", action="modify")
            return
        quantity = command.quantity if command.quantity is not None else Decimal(record.quantity)
        limit_price = command.limit_price if command.limit_price is not None else _opt_dec(record.limit_price)
        stop_price = command.stop_price if command.stop_price is not None else _opt_dec(record.stop_price)
        view = _ModifyView(limit_price, stop_price)
        refusal = self.gate.check_modify(record.account, record.symbol, record.side, quantity, view)
        if refusal is not None:
            self._reject(coid, refusal.code, refusal.reason, action="modify", order_id=record.order_id)
            return
        record.quantity = m._plain(quantity)
        record.limit_price = None if limit_price is None else m._plain(limit_price)
        record.stop_price = None if stop_price is None else m._plain(stop_price)
        record.extra["action"] = "modify"
        self.store.save(record)
        if not self.connected:
            raise NotConnected("TWS is not connected")
        self._send_order(record)

    # --- halt / resume / refresh -----------------------------------------------------------------

    def halt(self, command: m.TradingHalt) -> None:
        """Persist the halt (it survives a restart), refuse held orders, and with cancel_all cancel working ones."""
        account = command.account or GLOBAL
        self.store.set_halt(account, command.reason or "halted")
        halts = dict(self.gate.halts)
        halts[account] = command.reason or "halted"
        self.gate.set_halts(halts)
        for record in list(self.records.values()):
            if record.state == "scheduled" and (account == GLOBAL or record.account == account):
                record.state = "rejected"
                record.reject_code, record.reject_reason = "risk.halted", f"trading halted: {command.reason}"
                self.store.save(record)
                self._reject(record.client_order_id, record.reject_code, record.reject_reason)
        if command.mode != "cancel_all":
            return
        if account == GLOBAL:
            self._call("reqGlobalCancel")
            return
        for record in list(self.records.values()):
            if record.account == account and record.order_id and not record.final and record.state != "rejected":
                record.extra["action"] = "cancel"
                self._call("cancelOrder", record.order_id)

    def resume(self, command: m.TradingResume) -> None:
        account = command.account or GLOBAL
        self.store.clear_halt(account)
        halts = dict(self.gate.halts)
        halts.pop(account, None)
        self.gate.set_halts(halts)

    def refresh(self, what: tuple[str, ...]) -> None:
        """Ask TWS again for the named data (answers arrive as events)."""
        if "open_orders" in what:
            self._call("reqAllOpenOrders")
        if "executions" in what:
            self._call("reqExecutions", REQ_EXECUTIONS, _today_filter())
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
    # Connection: one loop, one step at a time
    # =========================================================================================

    def connection_step(self) -> None:
        """Advance the connection by one step: connect when due, reconcile when asked, watch liveness."""
        now = time.monotonic()
        connection = self.connection
        if connection is None:
            if now < self._next_attempt:
                self.shutdown.wait(min(0.05, self._next_attempt - now))
                return
            self._connect()
            return
        if not connection.alive or self._lost_reason:
            self._lose("socket closed")
            return
        if self._reconcile_requested:
            self._reconcile_requested = False
            self.reconcile()
            return
        if now - self._last_ping >= self.config.heartbeat_interval:
            self._last_ping = now
            try:
                self._call("reqCurrentTime")
            except (NotConnected, SendFailed) as error:
                self._lose(f"heartbeat send failed: {error}")
                return
        if self._last_rx and now - self._last_rx > self.config.heartbeat_timeout:
            self._lose(f"no answer from TWS for {now - self._last_rx:.1f} s (silent socket)")
            return
        self._check_in_flight(now)
        if self._retry_103:
            self._settle_duplicate_ids()
        self.shutdown.wait(0.02)

    def _set_state(self, state: str, detail: str = "") -> None:
        self.state = state
        if state == "ready":
            self.ready.set()
        else:
            self.ready.clear()
        log.info("gateway %s %s", state, detail)
        self.emit(m.GatewayStatus(state=state, server_version=self.server_version, detail=detail[:500]))

    def _connect(self) -> None:
        self.generation += 1
        self._set_state(
            "connecting", f"{self.config.tws_host}:{self.config.tws_port} clientId {self.config.tws_client_id}"
        )
        self._got_next_id.clear()
        self._lost_reason = ""
        try:
            connection = open_connection(
                self,
                self.generation,
                self.config.tws_host,
                self.config.tws_port,
                self.config.tws_client_id,
                self.config.connect_timeout,
            )
        except ConnectionError as error:
            self._schedule_retry(str(error))
            return
        self.connection = connection
        self.server_version = connection.client.serverVersion()
        # The handshake and START_API already used part of this second's allowance.
        self.pacing.drain()
        if not self._wait(self._got_next_id, self.config.connect_timeout) or self._lost_reason:
            self._lose("no nextValidId after connecting")
            return
        self._last_rx = time.monotonic()
        self._last_ping = time.monotonic()
        self._positions_streaming = False
        # Subscriptions die with the session: request them again on this one.
        self._account_summary_requested = False
        self._account_values_ready = False
        self._data_lost = False
        self._md_requested.clear()
        self._md_by_req.clear()
        if self.reconcile():
            self._backoff = self.config.backoff_initial

    def _schedule_retry(self, reason: str) -> None:
        delay = self._backoff + random.uniform(0, self.config.backoff_jitter)
        self._backoff = min(self.config.backoff_max, self._backoff * 2)
        self._next_attempt = time.monotonic() + delay
        self._set_state("disconnected", f"{reason}; retrying in {delay:.1f} s")

    def _lose(self, reason: str) -> None:
        """The session is gone: close it, mark unanswered orders unknown, back off, reconnect later.

        TWS's own reason (e.g. 326), when it sent one before closing, wins over ``reason``.
        """
        connection = self.connection
        if connection is not None and connection.thread is not None and not connection.client.isConnected():
            # Let ibapi's loop deliver what it already read (such as error 326) before deciding why.
            connection.thread.join(0.5)
        reason = self._lost_reason or reason
        self.connection = None
        self.ready.clear()
        if connection is not None:
            connection.close()
        self._lost_reason = ""
        for coid in list(self._in_flight):
            self._mark_unknown(coid, f"connection lost before TWS answered ({reason})")
        self._schedule_retry(reason)

    def _mark_unknown(self, coid: str, reason: str) -> None:
        self._in_flight.pop(coid, None)
        record = self.records.get(coid)
        if record is None or record.final or record.state == "unknown":
            return
        record.state = "unknown"
        self._last_status.pop(record.order_id, None)
        self._persist(record)
        self.emit(m.OrderUnknown(client_order_id=coid, order_id=record.order_id, reason=reason[:500]))

    def _check_in_flight(self, now: float) -> None:
        timeout = self.config.in_flight_timeout
        for coid, sent_at in list(self._in_flight.items()):
            if now - sent_at > timeout:
                self._mark_unknown(coid, f"no answer from TWS within {timeout:.0f} s")

    def reconcile(self) -> bool:
        """Bring memory in line with TWS: open orders (all clients), today's executions, positions.

        Commands wait meanwhile (state ``reconciling``). Orders the worker sent that TWS neither
        lists nor reports executions for become ``order.unknown``. On a timeout the connection is
        dropped and retried: the worker stays closed rather than trade on a half-known book.
        """
        self._set_state("reconciling", "open orders, executions, positions")
        timeout = self.config.reconcile_timeout
        self._recon_refs = set()
        self._recon_exec_refs = set()
        # Statuses are re-emitted after a reconnect so that orders marked unknown get settled.
        self._last_status.clear()
        self._open_orders_end.clear()
        self._executions_end.clear()
        # 1101: TWS dropped every subscription (positions, account, market data); ask again.
        data_lost, self._data_lost = self._data_lost, False
        if data_lost:
            self._md_requested.clear()
            self._md_by_req.clear()
        # On the same session the positions subscription keeps streaming; only a new one is awaited.
        need_positions = not self._positions_streaming or data_lost
        try:
            self._call("reqAllOpenOrders")
            self._call("reqExecutions", REQ_EXECUTIONS, _today_filter())
            if need_positions:
                self._positions_end.clear()
                if self._positions_streaming:
                    self._call("cancelPositions")
                self._positions.clear()
                self._call("reqPositions")
            if data_lost and self._account_summary_requested:
                self._call("cancelAccountSummary", REQ_ACCOUNT_SUMMARY)
                self._account_summary_requested = False
            ok = (
                self._wait(self._open_orders_end, timeout)
                and self._wait(self._executions_end, timeout)
                and (not need_positions or self._wait(self._positions_end, timeout))
            )
        except (NotConnected, SendFailed) as error:
            self._lose(f"reconciliation failed: {error}")
            return False
        if not ok or self.connection is None:
            self._lose("reconciliation timed out")
            return False
        self._positions_streaming = True
        try:
            self.reload_limits()
        except redis.RedisError as error:
            self._lose(f"could not read risk limits: {error}")
            return False
        seen = self._recon_refs | self._recon_exec_refs
        for record in list(self.records.values()):
            if record.final or record.state in ("scheduled", "rejected") or not record.order_id:
                continue
            if record.client_order_id in self._recon_refs:
                continue
            if record.client_order_id in seen:
                self._settle_from_executions(record)
                continue
            self._mark_unknown(record.client_order_id, "TWS reports neither an open order nor an execution for it")
        try:
            if not self._account_summary_requested:
                self._call("reqAccountSummary", REQ_ACCOUNT_SUMMARY, "All", ACCOUNT_TAGS)
                self._account_summary_requested = True
            self._subscribe_market_data()
        except (NotConnected, SendFailed) as error:
            self._lose(f"after reconciliation: {error}")
            return False
        adopted = sum(1 for r in self.records.values() if r.client_order_id in self._recon_refs)
        self._set_state("ready", f"reconciled {adopted} open orders")
        return True

    def _wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait for ``event`` but give up early when the session is lost or the worker stops."""
        deadline = time.monotonic() + timeout
        while not event.wait(0.02):
            if self._lost_reason or self.shutdown.is_set() or time.monotonic() > deadline:
                return False
            connection = self.connection
            if connection is not None and not connection.alive:
                return False
        return True

    def _settle_from_executions(self, record: OrderRecord) -> None:
        """An order no longer open at TWS whose executions cover its quantity is filled (broker's word)."""
        shares, value = self._exec_totals.get(record.client_order_id, (Decimal(0), Decimal(0)))
        quantity = Decimal(record.quantity)
        if shares < quantity or not shares:
            self._mark_unknown(record.client_order_id, f"not open at TWS and only {shares} of {quantity} executed")
            return
        self._in_flight.pop(record.client_order_id, None)
        self._acknowledge(record)
        record.state = "Filled"
        self._persist(record)
        self._emit_status(record, "Filled", shares, Decimal(0), (value / shares).quantize(Decimal("0.000001")))

    def _settle_duplicate_ids(self) -> None:
        """After error 103: look for the order at TWS; adopt it if there, else retry once with a fresh id."""
        pending, self._retry_103 = self._retry_103, set()
        self._recon_refs = set()
        self._open_orders_end.clear()
        try:
            self._call("reqAllOpenOrders")
        except (NotConnected, SendFailed):
            self._retry_103 |= pending
            return
        if not self._wait(self._open_orders_end, self.config.reconcile_timeout):
            self._retry_103 |= pending
            return
        for coid in pending:
            record = self.records.get(coid)
            if record is None or coid in self._recon_refs:
                continue
            if record.retried:
                record.state = "rejected"
                record.reject_code, record.reject_reason = "broker.103", "Duplicate order ID (after one retry)"
                self._persist(record)
                self._reject(coid, "broker.103", "TWS refused the order id twice (duplicate order id)")
                continue
            with self._lock:
                order_id = max(self.next_valid_id, self.max_order_id + 1)
                self.max_order_id = order_id
                record.order_id = order_id
                record.retried = True
                record.state = "placing"
            self.store.allocate(record)
            self.by_order_id[order_id] = coid
            log.warning("order %s refused with 103; retrying once as orderId %d", coid, order_id)
            self._send_order(record)

    def _subscribe_market_data(self) -> None:
        contract_symbols = sorted(self._md_symbols - set(self._md_requested))
        for symbol in contract_symbols:
            req_id = REQ_MD_BASE + len(self._md_by_req) + 1
            self._md_requested[symbol] = req_id
            self._md_by_req[req_id] = symbol
            self._call("reqMktData", req_id, make_contract(symbol, "STK", "SMART", "USD"), "", False, False, [])

    # =========================================================================================
    # Housekeeping
    # =========================================================================================

    def housekeeping_step(self) -> None:
        """Once a second: heartbeat event, limits re-read, new market-data subscriptions."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.config.heartbeat_event_interval
            self.emit(self.heartbeat())
        if now >= self._next_limits:
            self._next_limits = now + self.config.limits_interval
            self.reload_limits()
            if self.ready.is_set() and self._md_symbols - set(self._md_requested):
                try:
                    self._subscribe_market_data()
                except (NotConnected, SendFailed):
                    pass
        self.shutdown.wait(0.05)

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

    __slots__ = ("account", "limit_price", "order_type", "quantity", "side", "stop_price", "symbol")

    def __init__(self, record: OrderRecord) -> None:
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


def _today_filter() -> ExecutionFilter:
    """Executions since the start of today (UTC), every client."""
    execution_filter = ExecutionFilter()
    execution_filter.time = datetime.now(UTC).strftime("%Y%m%d-00:00:00")
    return execution_filter


__all__ = ["FINAL_STATES", "Worker"]
