"""Brackets at the broker: an ``order.place`` with ``children`` goes to TWS as IB's parent/child chain.

Mixed into ``worker.Worker``. The chain's members (parent first, then the children in the order
given) are gated, given consecutive orderIds and recorded together, with the send claim, in one
atomic Redis script before the first send (``Store.claim_chain``), each marked ``held``. Then they
are written back to back under one pacing unit: the parent and every child but the last with
``transmit=False``, each child with ``parentId``, the last child with ``transmit=True``, which makes
TWS transmit the whole chain. ``held`` is cleared when TWS first reports a member.

No half-bracket is ever transmitted. TWS keeps untransmitted orders without a word to the API and
discards them when the client that placed them disconnects, so a chain whose last transmit was not
written is not working at TWS:

- a send that fails before the last transmit (the session went away, the socket failed, a halt
  between the sends) refuses the whole bracket at once (``worker.bracket_incomplete``, or
  ``risk.halted``), after cancelling any member TWS holds on a session that is still up;
- a worker killed between the sends leaves records still ``held`` (``held`` is cleared only when TWS
  first reports a member, which it does only once the chain is transmitted); reconciliation after
  the restart finds none of them at TWS and refuses the bracket (``worker.bracket_incomplete``). A
  chain TWS does list (the last transmit arrived, its report did not) is adopted as working; the
  same holds when the socket drops right after the writes;
- a failure during the last transmit's own write leaves its outcome unknown (``order.unknown`` for
  each member); reconciliation settles it the same way.

Nothing is re-sent automatically. A lone ``order.place`` naming ``parent_client_order_id`` is sent
with its parent's orderId (IB's attached order) and refused when the worker does not hold the
parent working.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import redis

from execution_worker import messages as m
from execution_worker.broker import NotConnected, make_contract, make_order
from execution_worker.faults import faultpoint
from execution_worker.store import SEND_DEADLINE_S, OrderRecord

log = logging.getLogger("execution_worker")

INCOMPLETE = "worker.bracket_incomplete"
PARENT_NOT_WORKING = "worker.parent_not_working"


class ChainMixin:
    """``place_chain`` and the settlement of chains left ``held``; the worker's state is its own."""

    def place_chain(self, order: m.OrderPlace, received: float) -> None:
        """Gate, record and transmit a bracket (``order`` with ``children``) as one chain.

        A redelivered command sends nothing again: a refusal is repeated for every member.

        :raises NotConnected: the session is not ready (nothing recorded; the command stays pending).
        :raises redis.RedisError: the chain's claim got no answer (nothing was sent).
        """
        coid = order.client_order_id
        existing = self.book.records.get(coid)
        if existing is not None:
            if existing.state == "rejected":
                for member in self._chain_members(existing):
                    self._reject(member.client_order_id, member.reject_code, member.reject_reason, command_id=order.id)
            return
        if coid in self._records_unsure and self._resume_chain(order):
            return
        members = _members(order)
        self._require_ready()
        working = self._working_quantity(order.account, order.symbol, order.side, exclude=coid)
        refusal = self.gate.admit(order, time.monotonic(), working)
        for child in order.children:
            if refusal is not None:
                break
            # A child closes what its parent opens: its size and price are checked, not the rate.
            refusal = self.gate.check_modify(
                order.account, order.symbol, child["side"], child["quantity"], _Prices(child)
            )
        self.gate_ms.add((time.perf_counter() - received) * 1000.0)
        if refusal is not None:
            self._refuse_chain(members, refusal.code, refusal.reason, record=True)
            return
        with self.book.lock:
            first = self.book.allocate(len(members))
            now_ns = time.time_ns()
            for offset, record in enumerate(members):
                record.order_id = first + offset
                record.placed_ns = now_ns
        self._send_chain(members, order.ts, received)

    def _send_chain(self, members: list[OrderRecord], producer_ts: int, received: float) -> None:
        """Claim (recording every member), take one pacing unit, write the chain; see the module doc."""
        store = self.command_store
        asked = time.monotonic()
        try:
            result = store.claim_chain(members, "new")
        except redis.RedisError:
            self._records_unsure.add(members[0].client_order_id)
            raise
        if result == 0:
            return
        if result != 1:
            for record in members:
                record.order_id = 0
            self._refuse_chain(members, "risk.halted", f"trading is halted: {result}", record=True)
            return
        with self.book.lock:
            for record in members:
                self.book.records[record.client_order_id] = record
                self.book.by_order_id[record.order_id] = record.client_order_id
        self._md_symbols.add(members[0].symbol)
        faultpoint("after_record_before_place")
        waited = self.pacing.acquire_unit(len(members))
        parent_id = members[0].order_id
        last = len(members) - 1
        written = 0
        try:
            for index, record in enumerate(members):
                if time.monotonic() - asked > SEND_DEADLINE_S:
                    # The pacing wait (or a slow write) made the claim stale: ask again before any
                    # further placeOrder, so a kill switch engaged meanwhile stops the chain here.
                    asked = time.monotonic()
                    again = store.claim_chain(members, "check")
                    if again != 1:
                        self._abandon_chain(members, written, "risk.halted", f"trading is halted: {again}")
                        return
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
                    oca_type=record.oca_type,
                    parent_id=parent_id if index else 0,
                    transmit=index == last,
                )
                self.connection.place_order(record.order_id, contract, ib_order)
                written += 1
                if index == 0:
                    faultpoint("between_chain_sends")
        except (NotConnected, redis.RedisError) as error:
            self._abandon_chain(members, written, INCOMPLETE, f"the bracket was not transmitted: {error}")
            return
        except (OSError, AttributeError) as error:
            if written < last:
                self._abandon_chain(members, written, INCOMPLETE, f"the bracket was not transmitted: {error!r}")
                return
            # Part of the last transmit may have reached TWS: unknown until reconciliation (still held).
            for record in members:
                self._mark_unknown(record.client_order_id, f"socket failed during the bracket's transmit: {error!r}")
            return
        # ``held`` stays until TWS reports a member (``_chain_transmitted``): a socket that drops right
        # after the writes may have taken the last transmit with it, which only TWS's word settles.
        now = time.monotonic()
        with self.book.lock:
            for record in members:
                record.state = "sent"
                self._in_flight[record.client_order_id] = now
                self.publisher.persist(record)
        self.orders_sent += len(members)
        self.path_ms.add((time.time_ns() - producer_ts) / 1e6 - waited * 1000.0)
        self.queue_ms.add(waited * 1000.0)
        self.work_ms.add((time.perf_counter() - received - waited) * 1000.0)

    def _abandon_chain(self, members: list[OrderRecord], written: int, code: str, reason: str) -> None:
        """Refuse a chain whose last transmit was never written; cancel what TWS may hold of it.

        TWS discards held orders when the session drops; on a session still up they are cancelled
        (best effort: were the cancel lost, they would still never be transmitted).
        """
        for record in members[:written]:
            try:
                self._call("cancelOrder", record.order_id)
            except Exception as error:
                log.info("held order %s not cancelled (%r); TWS discards it with the session", record.order_id, error)
        self._refuse_chain(members, code, reason, record=False)

    def _refuse_chain(self, members: list[OrderRecord], code: str, reason: str, *, record: bool) -> None:
        """Record every member rejected and tell the bridge, each under the bracket's command id.

        ``record``: the members were never recorded (a gate refusal), so they are written now.

        :raises redis.RedisError: the refusal could not be recorded (the command stays pending).
        """
        with self.book.lock:
            for member in members:
                self._in_flight.pop(member.client_order_id, None)
                member.state = "rejected"
                member.held = False
                member.reject_code, member.reject_reason = code, reason
        if record:
            self.command_store.save_many(members)
        else:
            for member in members:
                self.publisher.persist(member)
        with self.book.lock:
            for member in members:
                self.book.records[member.client_order_id] = member
        log.warning("bracket %s refused: %s (%s)", members[0].client_order_id, reason, code)
        for member in members:
            self._reject(
                member.client_order_id, code, reason, order_id=member.order_id or None, command_id=member.command_id
            )

    def _resume_chain(self, order: m.OrderPlace) -> bool:
        """A chain whose claim's reply was lost: if Redis stored it, this process never sent any of it,
        and TWS holds nothing of it; it is refused rather than sent late. False: never stored.

        :raises redis.RedisError: still unable (the command stays pending).
        """
        coid = order.client_order_id
        stored = self.command_store.record_get(coid)
        self._records_unsure.discard(coid)
        if stored is None:
            return False
        members = [stored]
        for child in order.children:
            found = self.command_store.record_get(child["client_order_id"])
            if found is not None:
                members.append(found)
        self._refuse_chain(members, INCOMPLETE, "the bracket's record was not confirmed; nothing was sent", record=True)
        return True

    def _chain_members(self, record: OrderRecord) -> list[OrderRecord]:
        """Every member the worker holds of ``record``'s chain, parent first (just ``record`` if none)."""
        if not record.chain:
            return [record]
        members = [r for r in list(self.book.records.values()) if r.chain == record.chain]
        return sorted(members, key=lambda r: (r.client_order_id != r.chain, r.order_id))

    def _chain_transmitted(self, record: OrderRecord) -> None:
        """TWS reported a member of ``record``'s chain: the chain was transmitted; none is held any more."""
        for member in self._chain_members(record):
            if member.held:
                member.held = False
                self.publisher.persist(member)

    def settle_held_chains(self, seen: set[str]) -> None:
        """After reconciliation: a chain still ``held`` is working if TWS reports any member (the last
        transmit was written before the worker lost track), else it is not working and is refused."""
        chains: dict[str, list[OrderRecord]] = {}
        for record in list(self.book.records.values()):
            if record.held and not record.final:
                chains.setdefault(record.chain, []).append(record)
        for chain, members in chains.items():
            members.sort(key=lambda r: (r.client_order_id != chain, r.order_id))
            if any(r.client_order_id in seen for r in members):
                log.warning("bracket %s was transmitted after all; working", chain)
                for record in members:
                    record.held = False
                    self.publisher.persist(record)
                continue
            self._refuse_chain(
                members,
                INCOMPLETE,
                "the worker stopped before the bracket's last order was transmitted; TWS holds none of it",
                record=False,
            )

    def _refuse_orphan(self, record: OrderRecord) -> bool:
        """Refuse a child whose parent the worker does not hold working (TWS would refuse it, 321).

        :raises redis.RedisError: the refusal could not be recorded (the command stays pending).
        """
        parent = self.book.records.get(record.parent_client_order_id)
        if parent is not None and parent.order_id and parent.state not in ("rejected", "Cancelled", "ApiCancelled"):
            return False
        record.state = "rejected"
        record.reject_code = PARENT_NOT_WORKING
        record.reject_reason = f"parent order {record.parent_client_order_id} is not working"
        if self._record_new(record):
            with self.book.lock:
                self.book.records[record.client_order_id] = record
            self._reject(record.client_order_id, record.reject_code, record.reject_reason, command_id=record.command_id)
        return True


class _Prices:
    """A child's prices as the gate reads an order's."""

    __slots__ = ("limit_price", "stop_price")

    def __init__(self, child: dict) -> None:
        self.limit_price = child["limit_price"]
        self.stop_price = child["stop_price"]


def _members(order: m.OrderPlace) -> list[OrderRecord]:
    """The chain's records, parent first, every one ``held`` and tied to the parent."""
    now = time.time_ns()
    common = {
        "account": order.account,
        "symbol": order.symbol,
        "sec_type": order.sec_type,
        "exchange": order.exchange,
        "currency": order.currency,
        "chain": order.client_order_id,
        "held": True,
        "created_ns": now,
        "command_id": order.id,
    }
    members = [
        OrderRecord(
            client_order_id=order.client_order_id,
            side=order.side,
            quantity=m.plain_decimal(order.quantity),
            order_type=order.order_type,
            limit_price=_text(order.limit_price),
            stop_price=_text(order.stop_price),
            tif=order.tif,
            outside_rth=order.outside_rth,
            oca_group=order.oca_group,
            oca_type=order.oca_type or 0,
            **common,
        )
    ]
    for child in order.children:
        members.append(
            OrderRecord(
                client_order_id=child["client_order_id"],
                side=child["side"],
                quantity=m.plain_decimal(child["quantity"]),
                order_type=child["order_type"],
                limit_price=_text(child["limit_price"]),
                stop_price=_text(child["stop_price"]),
                tif=child["tif"],
                outside_rth=child["outside_rth"],
                parent_client_order_id=order.client_order_id,
                **common,
            )
        )
    return members


def _text(value: Decimal | None) -> str | None:
    return None if value is None else m.plain_decimal(value)
