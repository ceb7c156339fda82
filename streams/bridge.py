"""The event bridge: apply the worker's events to PostgreSQL through the services.

Consumer group ``bridge`` on ``{prefix}:events``. Each entry is decoded with
``execution_worker.messages.decode`` and applied in one transaction by the handler of its type;
the services are idempotent (``message_id`` on order events, unique ``exec_id`` on fills,
forward-only states), so a redelivered entry is a no-op. Only after the commit is the entry
acknowledged. The services announce what they changed, stamped with the event's producer time,
and ``streams.publish`` shows it on the live pages when the batch commits: the bridge sends no
rows itself.

An entry that cannot be decoded, or that the services refuse (a domain error), goes to
``{prefix}:dlq`` with the reason before it is acknowledged; one that fails for another reason
stays pending and is retried, and after ``max_failures`` attempts it is dead-lettered too. A
lost database connection fails the whole batch (nothing of it is acknowledged) and is retried
until the database is back, never dead-lettered. After a restart the bridge reads its own
pending entries first.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from django.db import connection, transaction

from accounts.announce import stamped
from accounts.models import BrokerAccount
from execution_worker import messages as m
from execution_worker.messages.consumer import Entry, StreamConsumer, consumer_name
from orders.models import Order, OrderSource
from orders.transitions import is_final
from streams import keys
from streams.db import BatchLost, batch_doomed, connection_fault, refresh_connections
from streams.faults import faultpoint
from streams.services import (
    fill_refusal_alert,
    heartbeat_record,
    order_record_broker,
    outbox_acknowledge_command,
    outbox_acknowledge_once,
)
from tradeconsole.exceptions import ApplicationError

logger = logging.getLogger(__name__)

GROUP = m.EVENTS_GROUP
EXECUTION = "execution"


class BridgeRefusal(ApplicationError):
    """An event the bridge can never apply (unknown account, unknown order without a description)."""

    code = "bridge.unapplicable"


class FillOfUnknownOrder(BridgeRefusal):
    """An execution naming a ``client_order_id`` the book never saw: never a new order of its own.

    An order of ours exists from entry; a strategy's is recorded from the worker's
    ``order.accepted`` or ``order.status``, which describe it. An execution alone describes a
    trade, not an order: taking it for one would book whatever anyone wrote to the stream.
    """

    code = "bridge.fill_unknown_order"


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _account(code: str) -> BrokerAccount:
    account = BrokerAccount.objects.filter(code=code).first()
    if account is None:
        raise BridgeRefusal(f"unknown account {code!r}")
    return account


def _order_by_client_id(client_order_id: str) -> Order | None:
    try:
        key = uuid.UUID(client_order_id) if client_order_id else None
    except ValueError:
        return None
    return Order.objects.filter(client_order_id=key).first() if key else None


PLACE_ONLY = ("order.place",)


def _acknowledge(client_order_id: str, types: tuple[str, ...], command_id: str | None = None) -> None:
    """Stop the relay republishing what this event proves the worker received.

    An event naming its command (``command_id``) acknowledges exactly that command, so a status
    produced before the worker read a later modify cannot mark the modify received.
    """
    if command_id:
        outbox_acknowledge_command(message_id=command_id)
    if types:
        outbox_acknowledge_once(client_order_id=client_order_id, types=types)


def _ensure_order(message: m.OrderAccepted | m.OrderStatus | m.OrderFilled) -> Order | None:
    """Find the order an event is about, recording one the console never saw (strategy or TWS).

    An order XADDed by a strategy straight to the command stream is known by its
    ``client_order_id`` only from the worker's events; one placed in TWS by hand has no
    ``client_order_id`` and is keyed by ``perm_id``. Both are recorded when the event describes them.
    """
    order = _order_by_client_id(message.client_order_id)
    if order is None and getattr(message, "perm_id", None):
        order = Order.objects.filter(perm_id=message.perm_id).first()
    if order is not None:
        return order
    description = {
        "account": getattr(message, "account", None),
        "symbol": getattr(message, "symbol", None),
        "side": getattr(message, "side", None),
        "quantity": getattr(message, "quantity", None),
    }
    if not all(description.values()):
        return None
    external = getattr(message, "external", False) or not message.client_order_id
    return order_record_broker(
        client_order_id=message.client_order_id or None,
        account=_account(description["account"]),
        symbol=description["symbol"],
        side=description["side"],
        quantity=description["quantity"],
        order_type=getattr(message, "order_type", None) or "MKT",
        limit_price=getattr(message, "limit_price", None),
        stop_price=getattr(message, "stop_price", None),
        order_id=message.order_id,
        perm_id=getattr(message, "perm_id", None),
        source=OrderSource.EXTERNAL if external else OrderSource.STRATEGY,
        message_id=message.id,
    )


def apply_event(message: m.Message) -> None:
    """Apply one decoded event through the services (inside the caller's transaction).

    :raises ApplicationError: the services refused it (it will be dead-lettered).
    """
    from accounts import services as account_services
    from orders import services as order_services
    from orders.selectors import instrument_get

    if isinstance(message, m.OrderAccepted):
        order = order_services.order_mark_accepted(
            client_order_id=message.client_order_id, order_id=message.order_id, message_id=message.id
        )
        # A strategy's order XADDed straight to the commands: recorded from the worker's description.
        order = order or _ensure_order(message)
        _acknowledge(message.client_order_id, PLACE_ONLY, getattr(message, "command_id", None))
    elif isinstance(message, m.OrderRejected):
        # place: REJECTED; modify: its pending values cleared; cancel: the order works on.
        order = order_services.order_mark_command_rejected(
            client_order_id=message.client_order_id,
            action=message.action,
            code=message.code,
            reason=message.reason,
            message_id=message.id,
        )
        # A refusal without its command's id (an older worker) acknowledges every command of
        # that action: the worker read them and will not act on them again.
        command_id = getattr(message, "command_id", None)
        _acknowledge(message.client_order_id, () if command_id else (f"order.{message.action}",), command_id)
    elif isinstance(message, m.OrderUnknown):
        order = order_services.order_mark_unknown(
            client_order_id=message.client_order_id,
            order_id=message.order_id,
            reason=message.reason,
            message_id=message.id,
        )
        _acknowledge(message.client_order_id, PLACE_ONLY, getattr(message, "command_id", None))
    elif isinstance(message, m.OrderStatus):
        status_args = {
            "status": message.status,
            "filled": message.filled,
            "remaining": message.remaining,
            "avg_fill_price": message.avg_fill_price,
            "order_id": message.order_id,
            "perm_id": message.perm_id,
            "message_id": message.id,
        }
        # The common case first (an order we know by its id): one lookup, inside the service.
        order = None
        if message.client_order_id:
            order = order_services.order_apply_broker_status(client_order_id=message.client_order_id, **status_args)
        if order is None:
            known = _ensure_order(message)
            if known is None:
                raise BridgeRefusal(f"order.status for an unknown order (client_order_id {message.client_order_id!r})")
            order = (
                order_services.order_apply_broker_status(client_order_id=str(known.client_order_id), **status_args)
                or known
            )
        # Any status proves the worker placed the order. It proves a modify or cancel was read
        # only when it names that command, or when the order is final (nothing is left to send).
        types = ("order.place", "order.modify", "order.cancel") if is_final(order.status) else PLACE_ONLY
        _acknowledge(str(order.client_order_id), types, message.command_id)
    elif isinstance(message, m.OrderFilled):
        order = _order_by_client_id(message.client_order_id) if message.client_order_id else _ensure_order(message)
        if order is None:
            raise FillOfUnknownOrder(
                f"execution {message.exec_id} of an order the book never saw (client_order_id"
                f" {message.client_order_id!r}): not booked"
            )
        account = _account(message.account)
        instrument = order.instrument if order is not None else instrument_get(symbol=message.symbol)
        order_services.fill_record(
            exec_id=message.exec_id,
            account=account,
            instrument=instrument,
            side=message.side,
            quantity=message.quantity,
            price=message.price,
            executed_at=datetime.fromisoformat(message.time),
            order=order,
            message_id=message.id,
        )
    elif isinstance(message, m.OrderCommission):
        order_services.fill_apply_commission(
            exec_id=message.exec_id,
            commission=message.commission,
            currency=message.currency,
            realized_pnl=message.realized_pnl,
        )
    elif isinstance(message, m.PositionSnapshot):
        account = _account(message.account)
        for item in message.positions:
            instrument = instrument_get(symbol=item["symbol"], currency=item.get("currency", "USD"))
            order_services.position_record_broker(
                account=account,
                instrument=instrument,
                quantity=item["quantity"],
                average_cost=item["avg_cost"],
                reported_at=_at(message.ts),
            )
    elif isinstance(message, m.AccountValues):
        account = _account(message.account)
        account_services.account_values_update(
            account=account, values=message.values, currency=message.currency, reported_at=_at(message.ts)
        )
    elif isinstance(message, m.GatewayStatus):
        heartbeat_record(name=EXECUTION, seen_at=_at(message.ts), state=message.state, detail=message.detail)
    elif isinstance(message, m.WorkerHeartbeat):
        data = {
            "worker": message.worker,
            "in_flight": message.in_flight,
            "pacing_tokens": str(message.pacing_tokens),
            "orders_sent": message.orders_sent,
            "orders_rejected": message.orders_rejected,
            "pacing_violations": message.pacing_violations,
            "halted": list(message.halted),
            "latency_ms": message.latency_ms,
            "queue_ms": message.queue_ms,
            "gate_ms": message.gate_ms,
        }
        heartbeat_record(
            name=EXECUTION,
            seen_at=_at(message.ts),
            started_at=_at(message.started_at),
            state=message.state or None,
            data=data,
        )
    else:
        raise BridgeRefusal(f"{message.TYPE} is not an event the bridge applies")


@dataclass
class EventBridge:
    """The bridge's loop, one step at a time (read a batch, apply each entry, ack)."""

    consumer: str = field(default_factory=lambda: consumer_name("bridge"))
    batch_size: int = 100
    block_ms: int = 500
    max_failures: int = 5
    claim_every: float = 5.0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        # Bytes in, bytes out: an entry that is not UTF-8 must reach decode (and the DLQ), not crash the read.
        self.client = redis.Redis.from_url(
            _redis_url(), decode_responses=False, socket_connect_timeout=2, socket_keepalive=True
        )
        self.reader = StreamConsumer(
            self.client, stream=keys.events_stream(), group=GROUP, consumer=self.consumer, dlq=keys.dlq_stream()
        )
        self.reader.ensure_group()
        self._next_claim = time.monotonic() + self.claim_every
        self._backoff = 0.0
        self.applied = 0
        self.dead_lettered = 0
        self._failing: set[bytes] = set()

    def step(self) -> int:
        """Read one batch and handle every entry in it; return how many entries were handled.

        Redis or database trouble is logged and backed off; it never ends the loop.
        """
        try:
            if self._backoff:
                self.stop.wait(self._backoff)
            entries = self.reader.read(count=self.batch_size, block_ms=self.block_ms)
            if time.monotonic() >= self._next_claim:
                self._next_claim = time.monotonic() + self.claim_every
                entries += self.reader.claim_stale(count=self.batch_size)
            if not entries:
                return 0
            refresh_connections()
            self.handle_batch(entries)
            refresh_connections()
            self._backoff = 0.0
            return len(entries)
        except Exception:
            self._backoff = min(5.0, max(0.1, self._backoff * 2))
            logger.exception("bridge step failed; retrying in %.1f s", self._backoff)
            self.reader.restart_pending()
            refresh_connections()
            return 0

    def handle(self, entry: Entry) -> None:
        """Apply one entry (see ``handle_batch``)."""
        self.handle_batch([entry])

    def handle_batch(self, entries: list[Entry]) -> None:
        """Apply a batch in one transaction (one savepoint per entry), then ack and dead-letter.

        One COMMIT per batch: under load the batch grows and the database's flush is paid once
        for many events. An entry the services refuse rolls back to its savepoint and is
        dead-lettered after the commit; an unexpected failure stops the batch there (later
        entries stay pending, in order) and is retried, dead-lettered after ``max_failures``.

        :raises Exception: a failure that may pass (database, Redis); unapplied entries stay pending.
        """
        decoded: list[tuple[Entry, m.Message]] = []
        for entry in entries:
            try:
                decoded.append((entry, m.decode(entry.fields)))
            except m.MessageError as error:
                logger.warning("dead-lettering undecodable event %s: %s", entry.entry_id, error)
                self._dead_letter(entry, code=error.code, reason=str(error), attempts=1)
        if not decoded:
            return
        applied: list[tuple[Entry, m.Message]] = []
        refused: list[tuple[Entry, m.Message, ApplicationError]] = []
        failure: tuple[Entry, m.Message, Exception] | None = None
        try:
            # A savepoint per entry lets one refusal roll back alone; an entry alone in its batch
            # needs none (the batch's rollback is its own), which saves two round trips per event
            # at low rates, where latency matters most.
            savepoints = len(decoded) > 1
            with transaction.atomic():
                for entry, message in decoded:
                    try:
                        with transaction.atomic(savepoint=savepoints), stamped(message.ts):
                            apply_event(message)
                            applied.append((entry, message))
                    except ApplicationError as error:
                        refused.append((entry, message, error))
                    except Exception as error:
                        failure = (entry, message, error)
                        break
                if batch_doomed(failure is not None or bool(applied)):
                    raise BatchLost
        except BatchLost:
            # The failing entry's savepoint could not be rolled back (the connection died): Django
            # rolls the whole batch back on leaving the block, without raising. Nothing is durable.
            applied, refused = [], []
            failure = failure or (decoded[0][0], decoded[0][1], BatchLost("the batch was rolled back"))
        except Exception as error:
            # The commit itself failed (the connection died): nothing of the batch is durable.
            applied, refused = [], []
            failure = (decoded[0][0], decoded[0][1], error)
        faultpoint("after_db_update_before_xack")
        if applied:
            self.reader.ack(*[entry.entry_id for entry, _ in applied])
            cleared = [entry.entry_id for entry, _ in applied if entry.entry_id in self._failing]
            if cleared:
                self._failing.difference_update(cleared)
                self.client.hdel(keys.bridge_failures_key(), *cleared)
            self.applied += len(applied)
        for entry, message, error in refused:
            logger.warning("dead-lettering %s %s: %s", message.TYPE, message.id, error.message)
            if isinstance(error, FillOfUnknownOrder):
                # Before the dead letter: if the alert cannot be written, the entry is retried.
                fill_refusal_alert(message=message, code=error.code, reason=error.message)
            self._dead_letter(entry, code=error.code, reason=error.message, attempts=1)
        if failure is not None:
            entry, message, error = failure
            attempts = self.client.hincrby(keys.bridge_failures_key(), entry.entry_id, 1)
            self._failing.add(entry.entry_id)
            self.reader.restart_pending()
            # A lost connection is no fault of the entry: it is retried until the database is back.
            if attempts >= self.max_failures and not connection_fault(error):
                logger.error("dead-lettering %s %s after %d failures: %s", message.TYPE, message.id, attempts, error)
                self._dead_letter(
                    entry, code="bridge.failed", reason=f"{type(error).__name__}: {error}", attempts=attempts
                )
                return
            raise error

    def _dead_letter(self, entry: Entry, *, code: str, reason: str, attempts: int) -> None:
        self.reader.dead_letter(entry, code=code, reason=reason, deliveries=attempts)
        self.client.hdel(keys.bridge_failures_key(), entry.entry_id)
        self.dead_lettered += 1

    def run(self) -> None:
        logger.info("bridge reading %s as %s/%s", keys.events_stream(), GROUP, self.consumer)
        try:
            while not self.stop.is_set():
                self.step()
        finally:
            # This thread's database connection must not outlive the loop.
            connection.close()


def _redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL
