"""The one way an order reaches placeOrder: pacing token, send claim (kill switch barrier), then the write.

Mixed into ``worker.Worker``. Every placeOrder the worker makes — a new order, a held order at its
time, an order whose claim's reply was lost, an order sent again after the session came back, the
retry after 103, a modify — goes through ``_send_order``, which asks ``Store.claim_send``: one
atomic script that refuses when ``{prefix}:halts`` (written by Django before an engage returns) or
the worker's own halts cover the account, and otherwise records the order and sets the send leases.
placeOrder follows within ``SEND_DEADLINE_S`` of asking, or the claim is asked again, so an engage
that waited for the leases of its scope to end is never followed by a placeOrder in that scope.
"""

from __future__ import annotations

import time

import redis

from execution_worker import messages as m
from execution_worker.broker import NotConnected, make_contract, make_order
from execution_worker.faults import faultpoint
from execution_worker.store import SEND_DEADLINE_S, OrderRecord, Store

HALTED = "risk.halted"


class SendMixin:
    """``_send_order`` and what it needs; the worker's state (records, pacing, connection) is its own."""

    def _send_order(
        self,
        record: OrderRecord,
        producer_ts: int | None = None,
        received: float | None = None,
        changes: dict | None = None,
        *,
        mode: str = "check",
        store: Store | None = None,
    ) -> bool:
        """Claim, then placeOrder for ``record``; return whether placeOrder was called.

        ``changes`` (quantity, limit_price, stop_price as strings) are a modify's new values, which the
        record takes only when TWS confirms them (openOrder). ``mode`` is the claim's (``new`` for an
        order not yet recorded, ``allocate`` for a recorded one under a fresh orderId, ``check`` for an
        order recorded under its orderId or a modify); ``store`` is the calling thread's (the command
        loop's by default). A halted scope refuses the order (``order.rejected`` ``risk.halted``; a
        modify is refused, the order stays as it is); a ``new`` claim already taken sends nothing.

        :raises NotConnected: the session went away before a byte was written (a place is left ``unsent``,
            a held order ``scheduled``: both are sent again, through the gate, once the session is ready).
        :raises redis.RedisError: the claim got no answer; nothing was sent.
        """
        changes = changes or {}
        contract = make_contract(record.symbol, record.sec_type, record.exchange, record.currency)
        ib_order = make_order(
            client_order_id=record.client_order_id,
            account=record.account,
            side=record.side,
            quantity=changes.get("quantity", record.quantity),
            order_type=record.order_type,
            limit_price=changes.get("limit_price", record.limit_price),
            stop_price=changes.get("stop_price", record.stop_price),
            tif=record.tif,
            outside_rth=record.outside_rth,
            oca_group=record.oca_group,
        )
        # The token first: the claim is then followed by the write at once, well inside its lease.
        waited = self.pacing.acquire()
        if not self._claim_send(record, mode, store or self.command_store, bool(changes)):
            return False
        if mode != "check":
            faultpoint("after_record_before_place")
        self._md_symbols.add(record.symbol)
        if record.state == "placing":
            self._in_flight[record.client_order_id] = time.monotonic()
        try:
            self.connection.place_order(record.order_id, contract, ib_order)
        except NotConnected:
            self._mark_unsent(record)
            raise
        except (OSError, AttributeError) as error:
            # Part of the bytes may have reached TWS: the outcome is unknown, never "failed" (invariant 3).
            record.state = "unknown"
            self._persist(record)
            self.emit(
                m.OrderUnknown(
                    client_order_id=record.client_order_id,
                    order_id=record.order_id,
                    reason=f"socket failed during placeOrder: {error!r}",
                    command_id=record.extra.pop("command_id", None) or record.command_id or None,
                )
            )
            return True
        if producer_ts is not None:
            self.path_ms.add((time.time_ns() - producer_ts) / 1e6 - waited * 1000.0)
            self.queue_ms.add(waited * 1000.0)
            if received is not None:
                self.work_ms.add((time.perf_counter() - received - waited) * 1000.0)
        self.orders_sent += 1
        if record.state == "placing":
            record.state = "sent"
        return True

    def _claim_send(self, record: OrderRecord, mode: str, store: Store, is_modify: bool) -> bool:
        """Ask ``store.claim_send`` until the answer is fresh enough to send on; True means send now.

        A refusal (halted) is applied here; a ``new`` claim already taken returns False quietly.

        :raises redis.RedisError: no answer (a ``new`` claim is remembered as unsure, a recorded
            order is left ``unsent``: nothing was sent either way).
        """
        asked = time.monotonic()
        try:
            result = store.claim_send(record, mode)
            if result == 1:
                coid = record.client_order_id
                with self._lock:
                    if mode == "new":
                        self.records[coid] = record
                    if mode != "check" and record.order_id:
                        self.by_order_id[record.order_id] = coid
                # Whatever held this thread since it asked (the GIL, a slow Redis), the write must follow
                # the claim within its lease: an engage waits the lease out, not an unbounded delay.
                while result == 1 and time.monotonic() - asked > SEND_DEADLINE_S:
                    asked = time.monotonic()
                    result = store.claim_send(record, "check")
        except redis.RedisError:
            if mode == "new" and record.client_order_id not in self.records:
                self._records_unsure.add(record.client_order_id)
            else:
                self._mark_unsent(record)
            raise
        if result == 1:
            return True
        if result == 0:
            return False
        self._refuse_halted(record, str(result), mode, store, is_modify)
        return False

    def _refuse_halted(self, record: OrderRecord, halt: str, mode: str, store: Store, is_modify: bool) -> None:
        """Refuse an order (or a modify) whose account is halted at the moment of sending.

        :raises redis.RedisError: the refusal could not be recorded (the command stays pending).
        """
        coid = record.client_order_id
        reason = f"trading is halted: {halt}"
        if is_modify or record.state != "placing":
            # A modify: nothing changed at TWS, the order stays as it is.
            if record.extra.get("action") == "modify":
                record.extra.pop("action", None)
            command_id = record.extra.pop("command_id", None)
            self._reject(coid, HALTED, reason, action="modify", order_id=record.order_id or None, command_id=command_id)
            return
        with self._lock:
            if self.by_order_id.get(record.order_id) == coid:
                del self.by_order_id[record.order_id]
            self._in_flight.pop(coid, None)
        if mode == "new":
            record.order_id = 0
        record.state = "rejected"
        record.reject_code, record.reject_reason = HALTED, reason
        if mode == "new":
            if not self._record_new(record):
                return
            with self._lock:
                self.records[coid] = record
        else:
            store.save(record)
        self._reject(coid, HALTED, reason, command_id=record.command_id)

    def _mark_unsent(self, record: OrderRecord) -> None:
        """A claimed place whose placeOrder never wrote a byte (the session went away first, ibapi's
        504 "Not connected"): not unknown — TWS cannot have it. A held order is held again; any other
        is ``unsent``, with no orderId, and goes through the gate again when its command is read again."""
        if record.state != "placing":
            return
        coid = record.client_order_id
        with self._lock:
            self._in_flight.pop(coid, None)
            if record.order_id and self.by_order_id.get(record.order_id) == coid:
                del self.by_order_id[record.order_id]
            record.order_id = 0
            record.state = "scheduled" if record.not_before is not None else "unsent"
        self._persist(record)
