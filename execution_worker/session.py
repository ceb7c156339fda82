"""The worker's TWS session: one reconnect loop, the watchdog, the heartbeat, and reconciliation.

``connection_step`` advances the session by one step: connect when due (capped exponential backoff
with jitter), reconcile when asked (after 1101/1102), watch the heartbeat that finds a silent
socket, and mark orders unknown when TWS does not answer. ``_call`` is how every request other than
placeOrder reaches TWS (under the pacing bucket); ``refresh`` applies ``broker.refresh``. Mixed into
``worker.Worker``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pybreaker
import redis
from ibapi.execution import ExecutionFilter

from execution_worker import messages as m
from execution_worker.broker import NotConnected, SendFailed, make_contract, open_connection
from execution_worker.store import OrderRecord

log = logging.getLogger("execution_worker")

ACCOUNT_TAGS = "NetLiquidation,TotalCashValue,BuyingPower,AvailableFunds,ExcessLiquidity,GrossPositionValue,RealizedPnL,UnrealizedPnL"  # noqa: E501
REQ_EXECUTIONS = 9001
REQ_ACCOUNT_SUMMARY = 9002
REQ_MD_BASE = 10_000


class SessionMixin:
    """Connection management of the worker (every method runs in the connection thread)."""

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
            # Through the connect breaker: after repeated failures it holds the attempts (pybreaker).
            connection = self.connect_breaker.call(
                open_connection,
                self,
                self.generation,
                self.config.tws_host,
                self.config.tws_port,
                self.config.tws_client_id,
                self.config.connect_timeout,
            )
        except pybreaker.CircuitBreakerError:
            self._schedule_retry("connect breaker open after repeated failed connects")
            return
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
            self._mark_unknown(coid, f"connection lost before TWS answered ({reason})", in_flight=True)
        self._schedule_retry(reason)

    def _mark_unknown(self, coid: str, reason: str, *, in_flight: bool = False) -> None:
        """Mark the order's outcome unknown and say so (order.unknown).

        ``in_flight``: called for an order waiting for TWS's first answer; it is marked only if it
        really was still waiting (its in-flight entry is removed here, not by an acknowledgement that
        came first), so order.unknown never follows order.accepted for the same send.
        """
        with self.book.lock:
            removed = self._in_flight.pop(coid, None) is not None
            record = self.book.records.get(coid)
            if in_flight and (not removed or (record is not None and record.accepted)):
                return
            if record is None or record.final or record.state == "unknown":
                return
            self._mark_unknown_locked(record, reason)

    def _mark_unknown_locked(self, record: OrderRecord, reason: str) -> None:
        coid = record.client_order_id
        record.state = "unknown"
        self._last_status.pop(record.order_id, None)
        self.publisher.persist(record)
        command_id = record.extra.pop("command_id", None) or record.command_id or None
        self.emit(
            m.OrderUnknown(client_order_id=coid, order_id=record.order_id, reason=reason[:500], command_id=command_id)
        )

    def _check_in_flight(self, now: float) -> None:
        timeout = self.config.in_flight_timeout
        for coid, sent_at in list(self._in_flight.items()):
            if now - sent_at > timeout:
                self._mark_unknown(coid, f"no answer from TWS within {timeout:.0f} s", in_flight=True)

    def reconcile(self) -> bool:
        """Bring memory in line with TWS: open orders (all clients), recent executions (see
        ``executions_since``), positions.

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
            self._call("reqExecutions", REQ_EXECUTIONS, executions_filter(self._last_exec_at))
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
        # A bracket whose last transmit was not written is not working at TWS (see chains.py).
        self.settle_held_chains(seen)
        for record in list(self.book.records.values()):
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
        adopted = sum(1 for r in self.book.records.values() if r.client_order_id in self._recon_refs)
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
        self.publisher.persist(record)
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
            record = self.book.records.get(coid)
            if record is None or coid in self._recon_refs:
                continue
            if record.retried:
                record.state = "rejected"
                record.reject_code, record.reject_reason = "broker.103", "Duplicate order ID (after one retry)"
                self.publisher.persist(record)
                self._reject(
                    coid,
                    "broker.103",
                    "TWS refused the order id twice (duplicate order id)",
                    command_id=record.command_id,
                )
                continue
            with self.book.lock:
                order_id = self.book.allocate()
                record.order_id = order_id
                record.retried = True
                record.state = "placing"
            log.warning("order %s refused with 103; retrying once as orderId %d", coid, order_id)
            try:
                # Through the send claim like every placeOrder: a halt since the first send refuses it.
                self._send_order(record, mode="allocate", store=self.store)
            except (NotConnected, redis.RedisError):
                # Nothing was sent (the record is unsent): retried once the session is back.
                record.retried = False
                self._retry_103.add(coid)

    def _subscribe_market_data(self) -> None:
        contract_symbols = sorted(self._md_symbols - set(self._md_requested))
        for symbol in contract_symbols:
            req_id = REQ_MD_BASE + len(self._md_by_req) + 1
            self._md_requested[symbol] = req_id
            self._md_by_req[req_id] = symbol
            self._call("reqMktData", req_id, make_contract(symbol, "STK", "SMART", "USD"), "", False, False, [])

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


# Executions are asked for over at least the last 24 h (a disconnect across midnight loses nothing),
# and from a little before the latest execution seen when that is older, at most a week back.
EXEC_WINDOW = timedelta(hours=24)
EXEC_MARGIN = timedelta(minutes=10)
EXEC_MAX_WINDOW = timedelta(days=7)


def executions_since(now: datetime, last_exec_at: datetime | None) -> datetime:
    """The start of the window reconciliation asks executions for (aware UTC datetimes)."""
    since = now - EXEC_WINDOW
    if last_exec_at is not None:
        since = min(since, last_exec_at - EXEC_MARGIN)
    return max(since, now - EXEC_MAX_WINDOW)


def executions_filter(last_exec_at: datetime | None = None) -> ExecutionFilter:
    """Executions of every client since ``executions_since`` (``yyyymmdd-hh:mm:ss`` is read as UTC)."""
    execution_filter = ExecutionFilter()
    execution_filter.time = executions_since(datetime.now(UTC), last_exec_at).strftime("%Y%m%d-%H:%M:%S")
    return execution_filter
