"""The relay's reading of the dead-letter stream: an order command the worker dead-lettered is shown on its order.

The worker copies a command it cannot carry out to ``{prefix}:dlq`` (with ``code`` and
``reason``) and acknowledges it; nothing tells the desk which order it was about. The relay
reads the dead-letter stream from its own cursor (``{prefix}:dlq:settled``, the last entry
settled), hands every order command to ``orders.services.command_failures`` and marks its outbox row
answered, so it is not republished. The cursor moves only after the database committed, so an
entry is settled at least once; the service is idempotent by the command's message id.
"""

from __future__ import annotations

import json
import logging
import uuid

import redis
from django.db import transaction

from orders.services import order_command_dead_lettered
from streams import keys
from streams.redis_client import get_redis
from streams.services import outbox_acknowledge_command

logger = logging.getLogger(__name__)

ACTIONS = {"order.place": "place", "order.cancel": "cancel", "order.modify": "modify"}


def settled_cursor_key() -> str:
    """The id of the last dead-letter entry the relay settled."""
    return f"{keys.prefix()}:dlq:settled"


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _order_command(fields: dict) -> tuple[str, str, uuid.UUID | None] | None:
    """Return (client_order_id, action, message id) of a dead-lettered order command, else None."""
    fields = {_text(k): _text(v) for k, v in fields.items()}
    if fields.get("stream") != keys.commands_stream() or fields.get("type") not in ACTIONS:
        return None
    try:
        data = json.loads(fields.get("data", ""))
        client_order_id = str(uuid.UUID(str(data["client_order_id"])))
    except (ValueError, TypeError, KeyError):
        # Undecodable data names no order; the dead-letter alert shows the entry.
        return None
    try:
        message_id = uuid.UUID(fields.get("id", ""))
    except ValueError:
        message_id = None
    return client_order_id, ACTIONS[fields["type"]], message_id


def dead_letters_settle(*, client: redis.Redis | None = None, batch_size: int = 100) -> int:
    """Show on its order every order command dead-lettered since the last call; return how many.

    :raises redis.RedisError: Redis is unreachable.
    :raises django.db.Error: the database failed; the cursor stays before the failed entry.
    """
    client = client or get_redis()
    cursor = _text(client.get(settled_cursor_key()) or "0-0")
    entries = client.xrange(keys.dlq_stream(), min=f"({cursor}", max="+", count=batch_size)
    settled = 0
    for entry_id, fields in entries:
        command = _order_command(fields)
        if command is not None:
            client_order_id, action, message_id = command
            code = _text(fields.get(b"code", fields.get("code", "")))[:64] or "worker.dead_letter"
            reason = _text(fields.get(b"reason", fields.get("reason", "")))
            with transaction.atomic():
                order = order_command_dead_lettered(
                    client_order_id=client_order_id, action=action, code=code, reason=reason, message_id=message_id
                )
                if message_id is not None:
                    outbox_acknowledge_command(message_id=str(message_id))
            logger.warning("dead-lettered %s of order %s (%s): %s", action, client_order_id, code, reason)
            settled += order is not None
        client.set(settled_cursor_key(), entry_id)
    return settled
