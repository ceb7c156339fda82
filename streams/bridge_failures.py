"""The bridge's entries that failed: attempts counted across restarts, and dead-lettering with the reason.

An entry the services refuse is dead-lettered at once; one that fails for another reason is
counted in ``{prefix}:bridge:failures`` (so a restart gives a poisoned entry no fresh attempts)
and dead-lettered by the bridge when the count reaches its limit. Dead-lettering copies the entry
to ``{prefix}:dlq`` with its code and reason before it is acknowledged.
"""

from __future__ import annotations

import logging

import redis

from execution_worker import messages as m
from execution_worker.messages.consumer import Entry, StreamConsumer
from streams import keys
from streams.exceptions import FillOfUnknownOrder
from streams.services import fill_refusal_alert
from tradeconsole.exceptions import ApplicationError

logger = logging.getLogger("streams.bridge")


class EntryFailures:
    """Failed attempts per stream entry and the dead-lettering of entries; used by the bridge's thread only."""

    def __init__(self, client: redis.Redis, reader: StreamConsumer) -> None:
        self.client = client
        self.reader = reader
        # Entries of this process with a count in Redis, so an entry applied at last clears its count.
        self.failing: set[bytes] = set()
        self.dead_lettered = 0

    def count(self, entry_id: bytes) -> int:
        """Count one more failed attempt at ``entry_id``; return the attempts so far.

        :raises redis.RedisError: Redis is unreachable.
        """
        attempts = self.client.hincrby(keys.bridge_failures_key(), entry_id, 1)
        self.failing.add(entry_id)
        return attempts

    def clear(self, entry_ids: list[bytes]) -> None:
        """Forget the counted failures of entries that have now been applied.

        :raises redis.RedisError: Redis is unreachable.
        """
        cleared = [entry_id for entry_id in entry_ids if entry_id in self.failing]
        if cleared:
            self.failing.difference_update(cleared)
            self.client.hdel(keys.bridge_failures_key(), *cleared)

    def refuse(self, entry: Entry, message: m.Message, error: ApplicationError) -> None:
        """Dead-letter an entry the services refused; an execution of an unknown order raises an alert first.

        :raises django.db.Error: the alert could not be written (the entry stays pending and is retried).
        :raises redis.RedisError: Redis is unreachable.
        """
        logger.warning("dead-lettering %s %s: %s", message.TYPE, message.id, error.message)
        if isinstance(error, FillOfUnknownOrder):
            # Before the dead letter: if the alert cannot be written, the entry is retried.
            fill_refusal_alert(message=message, code=error.code, reason=error.message)
        self.dead_letter(entry, code=error.code, reason=error.message, attempts=1)

    def dead_letter(self, entry: Entry, *, code: str, reason: str, attempts: int) -> None:
        """Copy ``entry`` to the dead-letter stream with ``code`` and ``reason``, acknowledge it, forget its count.

        :raises redis.RedisError: Redis is unreachable.
        """
        self.reader.dead_letter(entry, code=code, reason=reason, deliveries=attempts)
        self.client.hdel(keys.bridge_failures_key(), entry.entry_id)
        self.dead_lettered += 1
