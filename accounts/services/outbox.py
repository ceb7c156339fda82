"""The outbox: messages for the relay to publish once the transaction that wrote them commits."""

from __future__ import annotations

import logging

from accounts.models import OutboxMessage
from accounts.services.common import COMMANDS_STREAM, jsonable
from tradeconsole import db

logger = logging.getLogger(__name__)


def outbox_enqueue(*, type: str, data: dict, stream: str = COMMANDS_STREAM) -> OutboxMessage:
    """Write a message for the relay to publish after this transaction commits.

    ``stream="commands"`` is XADDed to ``{prefix}:commands``; ``stream="risk"`` is SET at
    ``{prefix}:risk:limits:{data["account"]}``. ``data`` is stored as plain JSON.
    """
    message = db.insert(OutboxMessage(stream=stream, type=type, data=jsonable(data)))
    # The first line of an order's path that names its command: the correlation id bound here (the
    # request's, the task's) is the row's and travels with the command (logclock.structured).
    # Routine commands (broker.refresh every monitoring run, risk limits) stay out of an INFO log.
    level = logging.INFO if type.startswith(("order.", "trading.")) else logging.DEBUG
    logger.log(level, "queued %s %s %s", type, data.get("client_order_id") or message.message_id, stream)
    return message
