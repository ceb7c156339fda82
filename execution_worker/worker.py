"""The execution worker: command stream -> idempotency -> risk gate -> pacing -> ibapi, and callbacks -> events.

Threads, each a loop over one single-step method that tests can call directly:

- ``command_step``: due scheduled orders, then a batch from ``{prefix}:commands`` (own pending
  entries first, entries of dead consumers claimed now and then), handled in order; placeOrder is
  called from this thread under the pacing bucket; an entry is acknowledged after its effect.
- ``connection_step``: the one reconnect loop: connect under a watchdog, reconcile, watch the
  heartbeat, back off with jitter when TWS is gone.
- ``housekeeping_step``: heartbeat event, risk limits re-read, market-data subscriptions.
- ``publish_step``: writes queued events (and record updates) to Redis in pipelines.

``Worker`` holds the state and runs the loops; what it does is in modules of one job each, mixed in:
applying commands (``placing``, ``amending``, ``halts``; their intake is ``commands.CommandIntake``),
the send claim and placeOrder (``sending``; ``chains`` for brackets), the session (``session``),
ibapi's callbacks (``callbacks``, ``fills``, ``account_reports``, ``quotes``: run by ibapi's own
thread) and ``housekeeping``.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from decimal import Decimal

import redis

from execution_worker import messages as m
from execution_worker.amending import AmendMixin
from execution_worker.book import OrderBook
from execution_worker.broker import Connection, NotConnected, SendFailed
from execution_worker.callbacks import CallbackMixin
from execution_worker.chains import ChainMixin
from execution_worker.commands import CommandIntake
from execution_worker.config import WorkerConfig, default_worker_name
from execution_worker.connect_breaker import connect_breaker
from execution_worker.halts import HaltMixin
from execution_worker.housekeeping import RECORD_RETENTION_NS, HousekeepingMixin
from execution_worker.messages.consumer import Entry, StreamConsumer
from execution_worker.metrics import WorkerMetrics
from execution_worker.pacing import TokenBucket
from execution_worker.placing import PlacingMixin
from execution_worker.publisher import Publisher
from execution_worker.risk import RiskGate
from execution_worker.sending import SendMixin
from execution_worker.session import SessionMixin
from execution_worker.stats import Window
from execution_worker.store import Store

log = logging.getLogger("execution_worker")

# How late a blocked XREADGROUP may return after its timeout (Redis checks timeouts at its hz).
REDIS_BLOCK_SLACK_MS = 150


class Worker(
    SessionMixin, CallbackMixin, SendMixin, ChainMixin, PlacingMixin, AmendMixin, HaltMixin, HousekeepingMixin
):
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
        self.connect_breaker = connect_breaker(
            client=self.redis, prefix=config.prefix, reset_timeout=config.backoff_max
        )
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
        # Wanted symbols left out (not a ticker, or no line free), each logged once.
        self._md_refused: set[str] = set()
        self._md_requested: dict[str, int] = {}
        self._md_by_req: dict[int, str] = {}
        self._quotes: dict[str, dict[str, Decimal]] = {}
        # Timers of the housekeeping loop.
        self._next_heartbeat = 0.0
        self._next_limits = 0.0
        self._next_prune = 0.0
        # Figures; with metrics on, the order path's and the pacing wait's samples also feed histograms.
        self.metrics = WorkerMetrics(self) if config.metrics else None
        self.path_ms = Window(observe=self.metrics.order_path_ms if self.metrics else None)
        self.queue_ms = Window(observe=self.metrics.pacing_wait_ms if self.metrics else None)
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


__all__ = ["NotConnected", "SendFailed", "Worker"]
