"""EWrapper callbacks of the worker: translate what TWS reports into events and memory.

They run in ibapi's ``run()`` thread, return quickly, never block on Redis (events are queued for
the publisher) and never raise on purpose (``broker.SafeWrapper`` also catches anything that does).
This module has the session's callbacks and the orders' (errors, openOrder, orderStatus); fills,
the account's reports and quotes have modules of their own, which ``CallbackMixin`` gathers.
Mixed into ``worker.Worker``, whose state they read and update.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

from execution_worker import messages as m
from execution_worker.account_reports import AccountCallbacks
from execution_worker.fills import FillCallbacks
from execution_worker.ib_values import UNSET_DOUBLE_LIMIT, ib_decimal
from execution_worker.quotes import QuoteCallbacks
from execution_worker.store import OrderRecord

log = logging.getLogger("execution_worker")

# Informational TWS notices (farm status and the like): logged, nothing to do.
INFO_CODES = frozenset({2103, 2104, 2105, 2106, 2107, 2108, 2109, 2119, 2157, 2158, 399})
# Errors about an order that mean TWS did not take it.
ORDER_REJECT_CODES = frozenset({110, 200, 201, 203, 320, 321, 322, 10268, 10269, 10270, 463, 135, 136, 387, 434})
CANCEL_REFUSALS = frozenset({10147, 10148, 161})
MODIFY_REFUSALS = frozenset({104, 105})
CONNECTION_LOST_CODES = frozenset({502, 504, 509, 1300})


def _description(record: OrderRecord) -> dict:
    """The order as the worker placed it (or last modified it), for the optional event keys."""
    return {
        "symbol": record.symbol,
        "side": record.side,
        "quantity": Decimal(record.quantity),
        "order_type": record.order_type,
        "limit_price": None if record.limit_price is None else Decimal(record.limit_price),
        "stop_price": None if record.stop_price is None else Decimal(record.stop_price),
        "tif": record.tif,
    }


class CallbackMixin(FillCallbacks, AccountCallbacks, QuoteCallbacks):
    """The ``on_<callback>`` methods ``broker.SafeWrapper`` forwards to (first argument: the connection
    generation, so callbacks of a closed session are ignored)."""

    def _current(self, generation: int) -> bool:
        self._last_rx = time.monotonic()
        return generation == self.generation

    def on_nextValidId(self, generation: int, order_id: int) -> None:
        if not self._current(generation):
            return
        with self.book.lock:
            if order_id <= self.book.max_order_id:
                log.warning("TWS nextValidId %d is not above the highest recorded %d", order_id, self.book.max_order_id)
            self.book.next_valid_id = max(order_id, self.book.next_valid_id if self._got_next_id.is_set() else 0)
        self._got_next_id.set()

    def on_managedAccounts(self, generation: int, accounts: str) -> None:
        if self._current(generation):
            self.gate.set_accounts({a for a in accounts.split(",") if a})

    def on_connectionClosed(self, generation: int) -> None:
        # Keep a reason TWS gave first (326 arrives just before the close).
        if generation == self.generation and not self._lost_reason:
            self._lost_reason = "TWS closed the connection"

    def on_currentTime(self, generation: int, _time: int) -> None:
        self._current(generation)

    def on_error(self, generation: int, req_id: int, code: int, text: str) -> None:
        if not self._current(generation):
            return
        if code in INFO_CODES:
            log.debug("TWS notice %s: %s", code, text)
            return
        if code == 1100:
            self.ready.clear()
            self._set_state("disconnected", f"1100: {text}")
            return
        if code in (1101, 1102):
            log.warning("TWS %s: %s; reconciling", code, text)
            # 1101: TWS dropped market-data and account subscriptions; they are requested again.
            self._data_lost = self._data_lost or code == 1101
            self._reconcile_requested = True
            return
        if code == 326:
            self._lost_reason = f"326: {text}"
            return
        if code in CONNECTION_LOST_CODES:
            self._lost_reason = f"{code}: {text}"
            return
        if code == 100:
            self.pacing_violations += 1
            log.error("TWS pacing violation (100): %s", text)
            return
        coid = self.book.by_order_id.get(req_id) if req_id > 0 else None
        if coid is None:
            log.warning("TWS error %s for request %s: %s", code, req_id, text)
            return
        record = self.book.records[coid]
        action = record.extra.get("action", "place")
        if code == 202:
            return
        if (code == 103 or code in MODIFY_REFUSALS) and action == "place" and not record.accepted:
            # The orderId collides with one TWS already used (a rollback, or state lost): check whether
            # TWS holds our order after all, else retry once with a fresh id (T17). The id belongs to
            # another order: forget it, or that order's statuses would be taken for ours.
            self._in_flight.pop(coid, None)
            with self.book.lock:
                self.book.max_order_id = max(self.book.max_order_id, req_id)
                if self.book.by_order_id.get(req_id) == coid:
                    del self.book.by_order_id[req_id]
                self._last_status.pop(req_id, None)
            self._retry_103.add(coid)
            return
        if code == 103:
            # A modify or cancel of an order TWS no longer works (it just finished): the change is refused;
            # never a retry, which would place the order again under a fresh id.
            command_id = record.extra.pop("command_id", None)
            self._reject(coid, "broker.103", text, action=action, order_id=req_id, command_id=command_id)
            return
        if code in CANCEL_REFUSALS:
            command_id = record.extra.pop("command_id", None)
            self._reject(coid, f"broker.{code}", text, action="cancel", order_id=req_id, command_id=command_id)
            return
        if code in MODIFY_REFUSALS:
            command_id = record.extra.pop("command_id", None)
            self._reject(coid, f"broker.{code}", text, action="modify", order_id=req_id, command_id=command_id)
            return
        if code in ORDER_REJECT_CODES and not (action == "place" and record.accepted):
            # Only an explicit reject code rejects, and a place only before TWS acknowledged it; after
            # that the order's own status (Cancelled, Inactive) says what became of it.
            self._in_flight.pop(coid, None)
            if action == "place":
                record.state = "rejected"
                record.reject_code, record.reject_reason = f"broker.{code}", text
                self.publisher.persist(record)
            command_id = record.extra.pop("command_id", None) if action != "place" else record.command_id
            self._reject(coid, f"broker.{code}", text, action=action, order_id=req_id, command_id=command_id)
            return
        # Anything else about an order is a warning (404 held while shares are located, 399, 2xxx...):
        # the order may well be live, so it is logged, never turned into a rejection.
        log.warning("TWS notice %s for order %s (%s, %s): %s", code, req_id, coid, record.state, text)

    def on_openOrder(self, generation: int, order_id: int, contract, order, order_state) -> None:
        if not self._current(generation):
            return
        ref = order.orderRef or ""
        record = self.book.records.get(ref) if ref else None
        if record is None:
            self._external(order_id, contract, order, order_state)
            return
        self._recon_refs.add(ref)
        if record.order_id and order_id and record.order_id != order_id and order.clientId == self.config.tws_client_id:
            # Same orderRef, different orderId: never cross-attribute (Nautilus #4970); log and ignore.
            log.error("quarantined openOrder %d: orderRef %s is recorded as orderId %d", order_id, ref, record.order_id)
            return
        if order.permId:
            record.perm_id = order.permId
            self.book.by_perm_id[order.permId] = ref
        self._adopt_terms(record, order)
        self._acknowledge(record)

    def _adopt_terms(self, record: OrderRecord, order) -> None:
        """Take quantity, prices and TIF from TWS's openOrder (the broker's word, after a modify too)."""
        quantity = ib_decimal(order.totalQuantity)
        limit = (
            ib_decimal(order.lmtPrice)
            if record.limit_price is not None and order.lmtPrice < UNSET_DOUBLE_LIMIT
            else None
        )
        stop = (
            ib_decimal(order.auxPrice)
            if record.stop_price is not None and order.auxPrice < UNSET_DOUBLE_LIMIT
            else None
        )
        terms = (
            m.plain_decimal(quantity) if quantity > 0 else record.quantity,
            m.plain_decimal(limit) if limit else record.limit_price,
            m.plain_decimal(stop) if stop else record.stop_price,
            order.tif or record.tif,
        )
        if terms != (record.quantity, record.limit_price, record.stop_price, record.tif):
            record.quantity, record.limit_price, record.stop_price, record.tif = terms
            self.publisher.persist(record)

    def on_openOrderEnd(self, generation: int) -> None:
        if self._current(generation):
            self._open_orders_end.set()

    def _acknowledge(self, record: OrderRecord) -> None:
        # Under the lock _mark_unknown takes: the in-flight timer either sees the order acknowledged
        # (and leaves it) or marks it unknown first (and this acceptance then settles it).
        with self.book.lock:
            self._acknowledge_locked(record)

    def _acknowledge_locked(self, record: OrderRecord) -> None:
        self._in_flight.pop(record.client_order_id, None)
        if record.held:
            # TWS reports a chain's members only once its last transmit arrived: it is working.
            self._chain_transmitted(record)
        if not record.accepted:
            record.accepted = True
            if record.state in ("placing", "sent", "unknown"):
                record.state = "accepted"
            self.publisher.persist(record)
            self.emit(
                m.OrderAccepted(
                    client_order_id=record.client_order_id,
                    order_id=record.order_id,
                    account=record.account,
                    perm_id=record.perm_id or None,
                    command_id=record.command_id or None,
                    **_description(record),
                )
            )

    def _external(self, order_id: int, contract, order, order_state) -> None:
        """An order placed outside the console: reported as external, keyed by permId (Nautilus #3464)."""
        perm_id = order.permId
        if not perm_id:
            return
        key = (order_state.status, order.filledQuantity if hasattr(order, "filledQuantity") else 0)
        seen = self._external_seen.get(perm_id)
        if seen is not None and seen[0] == key:
            return
        # With when it was seen: housekeeping forgets it after a day (a repeat is then reported again).
        self._external_seen[perm_id] = (key, time.monotonic())
        self.emit(
            m.OrderStatus(
                client_order_id="",
                order_id=max(order_id, 0),
                perm_id=perm_id,
                status=order_state.status or "Unknown",
                filled=Decimal(0),
                remaining=ib_decimal(order.totalQuantity),
                avg_fill_price=Decimal(0),
                external=True,
                account=order.account or None,
                symbol=contract.symbol or None,
                side=order.action if order.action in ("BUY", "SELL") else None,
                quantity=ib_decimal(order.totalQuantity),
                order_type=(order.orderType or None),
                limit_price=ib_decimal(order.lmtPrice) if order.lmtPrice < UNSET_DOUBLE_LIMIT else None,
                stop_price=ib_decimal(order.auxPrice) if order.auxPrice < UNSET_DOUBLE_LIMIT else None,
                tif=order.tif or None,
            )
        )

    def on_orderStatus(
        self,
        generation: int,
        order_id: int,
        status: str,
        filled: float,
        remaining: float,
        avg_fill_price: float,
        perm_id: int,
        parent_id: int,
        last_fill_price: float,
        client_id: int,
        why_held: str,
        mkt_cap_price: float = 0.0,
    ) -> None:
        if not self._current(generation):
            return
        coid = self.book.by_order_id.get(order_id) if order_id else None
        if coid is None and perm_id:
            coid = self.book.by_perm_id.get(perm_id)
        if coid is None:
            return  # external orders are reported from openOrder, which carries their description
        record = self.book.records[coid]
        if perm_id and record.perm_id and perm_id != record.perm_id:
            log.error("quarantined orderStatus of %d: permId %d, recorded %d", order_id, perm_id, record.perm_id)
            return
        key = (status, filled, remaining)
        if self._last_status.get(order_id) == key:
            return  # TWS repeats statuses, notably after a reconnect; clients must de-duplicate
        self._last_status[order_id] = key
        # What is left of the order counts toward max_position (see Worker._working_quantity).
        record.extra["filled"] = ib_decimal(filled)
        if perm_id and not record.perm_id:
            record.perm_id = perm_id
            self.book.by_perm_id[perm_id] = coid
        self._recon_refs.add(coid)
        self._acknowledge(record)
        record.state = status
        self.publisher.persist(record)
        self._emit_status(
            record,
            status,
            ib_decimal(filled),
            ib_decimal(remaining),
            ib_decimal(avg_fill_price),
            command_id=record.extra.pop("command_id", None),
        )

    def _emit_status(self, record: OrderRecord, status, filled, remaining, avg, command_id: str | None = None) -> None:
        self.emit(
            m.OrderStatus(
                client_order_id=record.client_order_id,
                order_id=record.order_id,
                perm_id=record.perm_id,
                status=status,
                filled=filled,
                remaining=remaining,
                avg_fill_price=avg,
                account=record.account,
                command_id=command_id,
                **_description(record),
            )
        )
