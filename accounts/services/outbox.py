"""The outbox: messages for the relay to publish once the transaction that wrote them commits."""

from __future__ import annotations

from accounts.models import OutboxMessage
from accounts.services.common import COMMANDS_STREAM, jsonable
from tradeconsole import db


def outbox_enqueue(*, type: str, data: dict, stream: str = COMMANDS_STREAM) -> OutboxMessage:
    """Write a message for the relay to publish after this transaction commits.

    ``stream="commands"`` is XADDed to ``{prefix}:commands``; ``stream="risk"`` is SET at
    ``{prefix}:risk:limits:{data["account"]}``. ``data`` is stored as plain JSON.
    """
    return db.insert(OutboxMessage(stream=stream, type=type, data=jsonable(data)))
