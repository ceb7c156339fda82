"""The one way an order reaches placeOrder: the send claim (kill switch barrier), the pacing token, the write.

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

        ``changes`` (quantity, limit_price, stop_price as strings, and tif) are a modify's new values, which the
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
        store = store or self.command_store
        outgoing = _Outgoing(self, record, changes)
        asked = time.monotonic()
        if not self._claim_send(record, mode, store, bool(changes), outgoing.prepare):
            return False
        if mode != "check":
            faultpoint("after_record_before_place")
        # The claim before the token: a refused order does not wait for one, so a backlog behind a kill
        # switch is refused at once. A claim the wait made stale is asked again (``SEND_DEADLINE_S``).
        waited = self.pacing.acquire()
        if time.monotonic() - asked > SEND_DEADLINE_S and not self._claim_again(record, store, bool(changes)):
            return False
        self._md_symbols.add(record.symbol)
        if record.state == "placing":
            self._in_flight[record.client_order_id] = time.monotonic()
        try:
            outgoing.place(self.connection)
        except NotConnected:
            self._mark_unsent(record)
            raise
        except (OSError, AttributeError) as error:
            # Part of the bytes may have reached TWS: the outcome is unknown, never "failed" (invariant 3).
            record.state = "unknown"
            self.publisher.persist(record)
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

    def _parent_order_id(self, record: OrderRecord) -> int:
        """The IB orderId of ``record``'s parent (0 for an order without one)."""
        if not record.parent_client_order_id:
            return 0
        parent = self.book.records.get(record.parent_client_order_id)
        return parent.order_id if parent is not None else 0

    def _claim_send(self, record: OrderRecord, mode: str, store: Store, is_modify: bool, meanwhile=None) -> bool:
        """Ask ``store.claim_send`` (running ``meanwhile`` while Redis answers); True means send now
        (within ``SEND_DEADLINE_S`` of asking).

        A refusal (halted) is applied here; a ``new`` claim already taken returns False quietly.

        :raises redis.RedisError: no answer (a ``new`` claim is remembered as unsure, a recorded
            order is left ``unsent``: nothing was sent either way).
        """
        try:
            result = store.claim_send(record, mode, meanwhile=meanwhile)
        except redis.RedisError:
            if mode == "new":
                self._records_unsure.add(record.client_order_id)
            else:
                self._mark_unsent(record)
            raise
        if result == 1:
            coid = record.client_order_id
            with self.book.lock:
                if mode == "new":
                    self.book.records[coid] = record
                if mode != "check" and record.order_id:
                    self.book.by_order_id[record.order_id] = coid
            return True
        if result == 0:
            return False
        self._refuse_halted(record, str(result), mode, store, is_modify)
        return False

    def _claim_again(self, record: OrderRecord, store: Store, is_modify: bool) -> bool:
        """Renew a claim older than ``SEND_DEADLINE_S`` (its lease may be over, an engage may have
        returned since): the write must follow a claim within its lease, however long the wait was.

        :raises redis.RedisError: no answer (the order is left ``unsent``; nothing was sent).
        """
        while True:
            asked = time.monotonic()
            if not self._claim_send(record, "check", store, is_modify):
                return False
            if time.monotonic() - asked <= SEND_DEADLINE_S:
                return True

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
        with self.book.lock:
            if self.book.by_order_id.get(record.order_id) == coid:
                del self.book.by_order_id[record.order_id]
            self._in_flight.pop(coid, None)
        if mode == "new":
            record.order_id = 0
        record.state = "rejected"
        record.reject_code, record.reject_reason = HALTED, reason
        if mode == "new":
            if not self._record_new(record):
                return
            with self.book.lock:
                self.book.records[coid] = record
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
        with self.book.lock:
            self._in_flight.pop(coid, None)
            if record.order_id and self.book.by_order_id.get(record.order_id) == coid:
                del self.book.by_order_id[record.order_id]
            record.order_id = 0
            record.state = "scheduled" if record.not_before is not None else "unsent"
        self.publisher.persist(record)


class _Outgoing:
    """One placeOrder made ready while its send claim is in flight: the ibapi contract and order, and
    the bytes the session writes for them.

    ``prepare`` runs inside the claim's round trip (``Store.claim_send``'s ``meanwhile``), so it never
    raises: what building the order raised is raised by ``place``, where the write would be, and only
    when the claim said send. ``place`` writes through the session it is given and uses the prepared
    bytes only if they were made by that same session (a reconnect may have changed the server version).
    """

    __slots__ = ("changes", "contract", "error", "framed", "made_by", "order", "order_id", "record", "sender")

    def __init__(self, sender, record: OrderRecord, changes: dict) -> None:
        self.sender = sender
        self.record = record
        self.changes = changes
        self.order_id = 0
        self.contract = self.order = self.framed = self.made_by = self.error = None

    def prepare(self) -> None:
        try:
            self._build()
            connection = self.sender.connection
            if connection is not None:
                self.framed = connection.order_message(self.order_id, self.contract, self.order)
                self.made_by = connection
        except Exception as error:  # raised by place(), where placeOrder would have raised it
            self.error = error

    def _build(self) -> None:
        record, changes = self.record, self.changes
        self.order_id = record.order_id
        self.contract = make_contract(record.symbol, record.sec_type, record.exchange, record.currency)
        self.order = make_order(
            client_order_id=record.client_order_id,
            account=record.account,
            side=record.side,
            quantity=changes.get("quantity", record.quantity),
            order_type=record.order_type,
            limit_price=changes.get("limit_price", record.limit_price),
            stop_price=changes.get("stop_price", record.stop_price),
            tif=changes.get("tif", record.tif),
            outside_rth=record.outside_rth,
            oca_group=record.oca_group,
            oca_type=record.oca_type,
            # A child is always sent with its parent's orderId (a modify too: TWS keeps the tie).
            parent_id=self.sender._parent_order_id(record),
        )

    def place(self, connection) -> None:
        """placeOrder through ``connection`` (the session's now).

        :raises NotConnected, OSError, AttributeError: as ``Connection.place_order`` (AttributeError: no session).
        """
        if self.error is not None:
            raise self.error
        if self.order is None or self.order_id != self.record.order_id:
            # Not prepared (the claim went without ``meanwhile``) or the record's orderId moved since.
            self.framed = self.made_by = None
            self._build()
        framed = self.framed if connection is self.made_by else None
        connection.place_order(self.order_id, self.contract, self.order, framed)
