"""Writes owned by the stream side: process heartbeats and the worker's receipt of outbox commands."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.announce import announce
from accounts.models import OutboxMessage, ProcessHeartbeat
from streams import sql


@transaction.atomic
def heartbeat_record(
    *,
    name: str,
    seen_at: datetime | None = None,
    started_at: datetime | None = None,
    state: str | None = None,
    detail: str | None = None,
    data: dict | None = None,
) -> ProcessHeartbeat:
    """Record a sign of life of process ``name``; fields given as None keep their stored value.

    Forward-only: a heartbeat older than the stored one (a late, redelivered event) changes nothing.
    Heartbeats are not desk decisions, so no audit row is written.
    """
    seen_at = seen_at or timezone.now()
    beat, created = ProcessHeartbeat.objects.select_for_update().get_or_create(
        name=name[:64],
        defaults={
            "last_seen_at": seen_at,
            "started_at": started_at,
            "state": (state or "")[:32],
            "detail": (detail or "")[:255],
            "data": data or {},
        },
    )
    announce("accounts.processheartbeat", beat.name)
    if created or beat.last_seen_at > seen_at:
        return beat
    beat.last_seen_at = seen_at
    fields = ["last_seen_at"]
    if started_at is not None:
        beat.started_at = started_at
        fields.append("started_at")
    if state is not None:
        beat.state = state[:32]
        fields.append("state")
    if detail is not None:
        beat.detail = detail[:255]
        fields.append("detail")
    if data is not None:
        beat.data = data
        fields.append("data")
    beat.save(update_fields=fields)
    return beat


# The gateway states in which the worker holds an open socket to TWS (execution_worker.messages).
TWS_CONNECTED_STATES = ("reconciling", "ready")


@transaction.atomic
def tws_heartbeat_record(*, state: str, detail: str = "", seen_at: datetime | None = None) -> ProcessHeartbeat | None:
    """Record TWS's sign of life as the execution worker sees it: the ``tws`` process row.

    The worker is the only process connected to TWS, so its gateway state is TWS's liveness:
    a connected state (``reconciling``, ``ready``) is a heartbeat at ``seen_at``; any other state
    (``connecting``, ``disconnected``) is written as the row's state but leaves its last heartbeat
    where it was, so the row grows stale while TWS is away. Until TWS has been connected once
    there is no row (None): the Desk says so rather than showing a heartbeat TWS never gave.
    """
    seen_at = seen_at or timezone.now()
    if state in TWS_CONNECTED_STATES:
        return heartbeat_record(name="tws", seen_at=seen_at, state=state, detail=detail)
    beat = ProcessHeartbeat.objects.select_for_update().filter(name="tws").first()
    if beat is None:
        return None
    return heartbeat_record(name="tws", seen_at=beat.last_seen_at, state=state, detail=detail)


# Commands of an order known to be settled in this process: none of the given types is left
# unacknowledged or waiting for the relay, so the next event about the order skips the UPDATE.
# An order has one place command, so its place stays settled; the relay forgets an order when it
# publishes a new command for it, and a relay in another process is covered by its sweep.
_settled: OrderedDict[str, set[tuple[str, ...]]] = OrderedDict()
_SETTLED_CACHE_SIZE = 10_000


def outbox_acknowledge_once(*, client_order_id: str, types: tuple[str, ...]) -> int:
    """``outbox_acknowledge``, skipped while this process knows nothing is left to mark for the order.

    The order is remembered as settled for ``types`` once the transaction commits with no such
    command left unacknowledged or unpublished (a command the relay has not marked published yet
    must still be marked by a later event).
    """
    client_order_id = str(client_order_id)
    types = tuple(types)
    if types in _settled.get(client_order_id, ()):
        return 0
    marked, waiting = _mark_received(client_order_id, types)
    if not waiting:
        transaction.on_commit(lambda: _remember_settled(client_order_id, types))
    return marked


def _remember_settled(client_order_id: str, types: tuple[str, ...]) -> None:
    # Pop and put back rather than move_to_end: the relay thread may forget the order meanwhile.
    settled = _settled.pop(client_order_id, set())
    settled.add(types)
    _settled[client_order_id] = settled
    if len(_settled) > _SETTLED_CACHE_SIZE:
        _settled.popitem(last=False)


def outbox_acknowledge_forget(client_order_ids) -> None:
    """A new command for these orders was published: their next events must mark it."""
    for client_order_id in client_order_ids:
        _settled.pop(str(client_order_id), None)


def outbox_acknowledge_command(*, message_id: str) -> int:
    """Mark the one command ``message_id`` as received by the worker; 0 when already marked."""
    return OutboxMessage.objects.filter(message_id=message_id, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now()
    )


def outbox_acknowledge(*, client_order_id: str, types: tuple[str, ...]) -> int:
    """Mark the commands of ``types`` about ``client_order_id`` as received by the worker.

    The worker's events about an order prove it read the command; the relay's sweep stops
    republishing it. A command the relay has not marked published yet is left alone. Returns
    how many rows were marked (0 when already marked).
    """
    return _mark_received(str(client_order_id), tuple(types))[0]


def _mark_received(client_order_id: str, types: tuple[str, ...]) -> tuple[int, bool]:
    """Mark the published, unacknowledged commands; return (rows marked, whether any is unpublished).

    One plain statement (``streams.sql.outbox_mark_received``): the bridge runs it for nearly
    every event, and the ORM spent longer compiling the JSON lookup than PostgreSQL running it.
    """
    return sql.outbox_mark_received(client_order_id, types, now=timezone.now())


@transaction.atomic
def fill_refusal_alert(*, message, code: str, reason: str):
    """Raise a critical alert naming an execution the bridge refused to book (``order.filled``).

    One alert per execution id, on the account when the desk knows it: a fill that is not booked
    leaves the book short of the broker's position, or someone wrote to the event stream.
    """
    from accounts.models import Alert, BrokerAccount
    from accounts.services import alert_raise

    return alert_raise(
        key=f"{code}:{message.exec_id}"[:200],
        kind=code,
        severity=Alert.Severity.CRITICAL,
        account=BrokerAccount.objects.filter(code=message.account).first(),
        message=(
            f"Execution {message.exec_id} ({message.side} {message.quantity} {message.symbol} at {message.price},"
            f" client_order_id {message.client_order_id or '-'}) was not booked and went to the dead-letter"
            f" stream: {reason}"
        )[:500],
        data={
            "exec_id": message.exec_id,
            "client_order_id": message.client_order_id,
            "order_id": message.order_id,
            "message_id": message.id,
            "symbol": message.symbol,
            "side": message.side,
            "quantity": str(message.quantity),
            "price": str(message.price),
        },
    )
