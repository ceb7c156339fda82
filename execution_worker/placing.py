"""order.place: once per client_order_id, the gate, and held orders (``not_before``) until their time.

The command thread's work between a decoded ``order.place`` and the send claim (``sending.py``): a
repeated command is answered from the order's record, a claim whose reply was lost is resumed, the
gate refuses or admits, an admitted order gets its orderId, a held one waits in the schedule.
Mixed into ``worker.Worker``, whose state it reads and updates.
"""

from __future__ import annotations

import heapq
import logging
import time
from decimal import Decimal

import redis

from execution_worker import messages as m
from execution_worker.broker import NotConnected
from execution_worker.store import OrderRecord

log = logging.getLogger("execution_worker")


class PlacingMixin:
    """``place`` and what it needs; ``_dispatch_due`` sends held orders whose time has come."""

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
            past_kill_switch=order.past_kill_switch,
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
        self.limit_price = optional_decimal(record.limit_price)
        self.stop_price = optional_decimal(record.stop_price)


def optional_decimal(text: str | None) -> Decimal | None:
    """A price as the record keeps it (text or None) as a Decimal (or None)."""
    return None if text is None else Decimal(text)
