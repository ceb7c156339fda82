"""Order events: the one function that writes them (their kinds, ``OrderEventKind``, live with the model).

As Saleor's ``order/events.py``: every ``OrderEvent`` row is written here, by services only
(order entry, amend, broker events, fills, the monitor's services, the bridge's record of an
order first seen at the broker), in the transaction of the change it records. The strings are
the ones stored since the table exists, so no data migration goes with the enumeration.
"""

from __future__ import annotations

from typing import Any

from accounts.announce import announce_object
from accounts.models import User
from orders.models import Order, OrderEvent, OrderEventKind
from tradeconsole import db


def order_event_record(
    *,
    order: Order,
    kind: OrderEventKind,
    from_status: str = "",
    to_status: str = "",
    applied: bool = True,
    message_id: Any = None,
    detail: str = "",
    data: dict | None = None,
    actor: User | None = None,
) -> OrderEvent:
    """Append one event of ``kind`` to ``order``'s history, in the caller's transaction.

    ``applied=False`` records an event that changed nothing (a backward move, a refusal);
    ``message_id`` is the stream message that caused it, unique, so a redelivery is a no-op.
    An anonymous or absent ``actor`` is the desk itself. ``detail`` is cut to the column's 500.

    :raises ValueError: ``kind`` is not an ``OrderEventKind``.
    """
    announce_object(order)
    # Plain INSERT (tradeconsole.db): the bridge writes one event per broker message.
    return db.insert(
        OrderEvent(
            order=order,
            kind=OrderEventKind(kind),
            from_status=from_status,
            to_status=to_status,
            applied=applied,
            message_id=message_id,
            detail=detail[:500],
            data=data or {},
            actor=actor if actor is not None and getattr(actor, "is_authenticated", False) else None,
        )
    )
