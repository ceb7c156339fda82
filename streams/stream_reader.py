"""Read one Redis stream as a member of a consumer group: own pending first, stale claims, dead letters.

Django-free and small on purpose (the Django side may import only ``execution_worker.messages``
from the worker). Entries are read as bytes, so an entry that is not UTF-8 reaches the caller
(and the dead-letter stream) instead of crashing the read.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import redis

DLQ_MAXLEN = 100_000
DLQ_MAX_VALUE_BYTES = 64 * 1024


@dataclass(slots=True)
class Entry:
    entry_id: bytes
    fields: dict


class GroupReader:
    """One consumer of one group on one stream; every method is one or two Redis round trips."""

    def __init__(
        self, client: redis.Redis, *, stream: str, group: str, consumer: str, dlq: str, min_idle_ms: int = 30_000
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.dlq = dlq
        self.min_idle_ms = min_idle_ms
        self._pending_from: bytes | None = b"0"
        self._claim_from = b"0-0"

    def ensure_group(self) -> None:
        """Create the group from the start of the stream (``0``, never ``$``) if it does not exist."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def reread_pending(self) -> None:
        """Read this consumer's pending entries again before new ones (after a failure or reconnect)."""
        self._pending_from = b"0"

    def read(self, *, count: int, block_ms: int) -> list[Entry]:
        """Return this consumer's pending entries first (after a restart), then new entries.

        Blocks up to ``block_ms`` for new entries. A lost group (Redis restarted empty) is recreated.
        """
        try:
            if self._pending_from is not None:
                reply = self.client.xreadgroup(
                    self.group, self.consumer, {self.stream: self._pending_from}, count=count
                )
                entries = _entries(reply)
                if entries:
                    self._pending_from = entries[-1].entry_id
                    gone = [e.entry_id for e in entries if not e.fields]
                    if gone:
                        # Trimmed away while pending: nothing left to apply.
                        self.client.xack(self.stream, self.group, *gone)
                    return [e for e in entries if e.fields]
                self._pending_from = None
            reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms)
            return _entries(reply)
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self.ensure_group()
            return []

    def claim_stale(self, *, count: int = 100) -> list[Entry]:
        """Take over entries another (dead) consumer left pending longer than ``min_idle_ms``."""
        try:
            reply = self.client.xautoclaim(
                self.stream, self.group, self.consumer, self.min_idle_ms, start_id=self._claim_from, count=count
            )
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self.ensure_group()
            return []
        self._claim_from = reply[0]
        return [Entry(entry_id, fields) for entry_id, fields in reply[1] if fields]

    def ack(self, *entry_ids: bytes) -> None:
        if entry_ids:
            self.client.xack(self.stream, self.group, *entry_ids)

    def dead_letter(self, entry: Entry, *, code: str, reason: str, attempts: int) -> None:
        """Copy ``entry`` to the dead-letter stream with why, *then* acknowledge it.

        Same record shape as the worker's: ``code``, ``reason``, ``stream``, ``entry_id``, ``group``,
        ``consumer``, ``deliveries``, ``failed_at``, ``host`` and the original fields.
        """
        record: dict = {
            "code": code,
            "reason": reason[:2000],
            "stream": self.stream,
            "entry_id": entry.entry_id,
            "group": self.group,
            "consumer": self.consumer,
            "deliveries": str(attempts),
            "failed_at": str(time.time_ns()),
            "host": socket.gethostname(),
        }
        for key, value in entry.fields.items():
            name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            if len(value) > DLQ_MAX_VALUE_BYTES:
                value = value[:4096]
            record[name if name not in record else f"orig_{name}"] = value
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(self.dlq, record, maxlen=DLQ_MAXLEN, approximate=True)
        pipe.xack(self.stream, self.group, entry.entry_id)
        pipe.execute()


def _entries(reply) -> list[Entry]:
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3
        items = next(iter(reply.values()))
        if items and isinstance(items[0], list) and items[0] and isinstance(items[0][0], list):
            items = items[0]
    else:
        items = reply[0][1]
    return [Entry(entry_id, fields or {}) for entry_id, fields in items]


def consumer_name(role: str) -> str:
    """A stable consumer name for this host, so a restarted process finds its own pending entries."""
    return f"{role}-{socket.gethostname()}"
