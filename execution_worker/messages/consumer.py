"""A consumer-group reader for one Redis stream: pending first, claim from dead consumers, ack, dead-letter.

Plain redis-py, no Django: the worker uses it for ``{prefix}:commands`` and the Django-side bridge
for ``{prefix}:events``; it is part of the stream contract, all that Django imports of the worker.
Delivery rules (design.md): read this consumer's own pending entries first after a restart, take
over entries idle longer than ``min_idle_ms`` from any consumer with XAUTOCLAIM, acknowledge only
after the effect, and copy an entry to the dead-letter stream (with the reason) *before*
acknowledging it, so a crash in between duplicates it there instead of losing it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import redis

MAX_DELIVERIES = 5
DLQ_MAXLEN = 100_000
DLQ_MAX_VALUE_BYTES = 64 * 1024


@dataclass(slots=True)
class Entry:
    """One stream entry as delivered: its id, raw fields and how many times it has been delivered."""

    entry_id: bytes
    fields: dict
    deliveries: int = 1


class StreamConsumer:
    """Read one stream as ``consumer`` of ``group``; every method is one Redis round trip or two.

    The caller loops: ``read()`` a batch, handle each entry, ``ack()`` it after the effect, or
    ``dead_letter()`` it when it can never succeed. ``claim_stale()`` now and then takes over
    entries a crashed consumer left pending; the delivery count Redis keeps decides when an entry
    has failed often enough (``should_dead_letter``).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        stream: str,
        group: str,
        consumer: str,
        dlq: str,
        min_idle_ms: int = 30_000,
        max_deliveries: int = MAX_DELIVERIES,
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.dlq = dlq
        self.min_idle_ms = min_idle_ms
        self.max_deliveries = max_deliveries
        # Our own pending entries are read once after (re)start, before anything new.
        self._pending_cursor: bytes | None = b"0"
        self._claim_cursor = b"0-0"

    def ensure_group(self) -> None:
        """Create the group (and the stream) reading from the very start, if it does not exist yet.

        From ``0``, never ``$``: commands written before the group existed are not skipped.
        """
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def restart_pending(self) -> None:
        """Read this consumer's pending entries again before new ones (after a reconnect to Redis)."""
        self._pending_cursor = b"0"

    def read(self, count: int = 16, block_ms: int | None = 50) -> list[Entry]:
        """Return the next batch: this consumer's pending entries first, then new ones.

        Blocks up to ``block_ms`` when there is nothing new (None: do not block). Recreates the group
        when Redis lost it (NOGROUP), so a Redis restart without persistence is not a crash loop.
        """
        try:
            if self._pending_cursor is not None:
                reply = self.client.xreadgroup(
                    self.group, self.consumer, {self.stream: self._pending_cursor}, count=count
                )
                entries = _entries(reply)
                # Entries deleted by trimming come back with empty fields; they are acknowledged away.
                live = [e for e in entries if e.fields]
                gone = [e.entry_id for e in entries if not e.fields]
                if gone:
                    self.client.xack(self.stream, self.group, *gone)
                if entries:
                    self._pending_cursor = entries[-1].entry_id
                    if live:
                        return self._with_counts(live)
                    return []
                self._pending_cursor = None
            reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms)
            return _entries(reply)
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self.ensure_group()
            return []

    def _with_counts(self, entries: list[Entry]) -> list[Entry]:
        """Fill in the delivery counts of re-read pending entries from XPENDING."""
        first, last = entries[0].entry_id, entries[-1].entry_id
        rows = self.client.xpending_range(
            self.stream, self.group, min=first, max=last, count=len(entries) + 16, consumername=self.consumer
        )
        counts = {row["message_id"]: row["times_delivered"] for row in rows}
        for entry in entries:
            entry.deliveries = int(counts.get(entry.entry_id, 1))
        return entries

    def claim_stale(self, count: int = 16) -> list[Entry]:
        """Take over entries idle longer than ``min_idle_ms`` (XAUTOCLAIM), with their delivery counts.

        Walks the pending list a batch per call, so a long list never blocks the caller.
        """
        try:
            reply = self.client.xautoclaim(
                self.stream, self.group, self.consumer, self.min_idle_ms, start_id=self._claim_cursor, count=count
            )
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self.ensure_group()
            return []
        self._claim_cursor = reply[0]
        claimed = [Entry(entry_id, fields or {}) for entry_id, fields in reply[1]]
        live = [e for e in claimed if e.fields]
        gone = [e.entry_id for e in claimed if not e.fields]
        if gone:
            self.client.xack(self.stream, self.group, *gone)
        return self._with_counts(live) if live else []

    def should_dead_letter(self, entry: Entry) -> bool:
        """True when the entry has been delivered ``max_deliveries`` times or more."""
        return entry.deliveries >= self.max_deliveries

    def ack(self, *entry_ids: bytes) -> None:
        """Acknowledge entries whose effect is done (durable)."""
        if entry_ids:
            self.client.xack(self.stream, self.group, *entry_ids)

    def dead_letter(self, entry: Entry, *, code: str, reason: str, deliveries: int | None = None) -> None:
        """Copy ``entry`` to the dead-letter stream with why, then acknowledge it (in that order).

        The DLQ entry keeps the original fields (prefixed ``orig_`` where they would clash) plus
        ``reason``, ``code``, ``stream``, ``entry_id``, ``group``, ``consumer``, ``deliveries`` (Redis'
        count, or the caller's own count of attempts when given), ``failed_at`` and ``host``.
        """
        record = {
            "code": code,
            "reason": reason[:2000],
            "stream": self.stream,
            "entry_id": entry.entry_id,
            "group": self.group,
            "consumer": self.consumer,
            "deliveries": str(entry.deliveries if deliveries is None else deliveries),
            "failed_at": str(time.time_ns()),
            "host": socket.gethostname(),
        }
        for key, value in entry.fields.items():
            name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            if len(value) > DLQ_MAX_VALUE_BYTES:
                # Keep the evidence, not the payload: a 10 MB poison entry must not be copied whole.
                value = (
                    value[:4096] + b"...[truncated, %d bytes]" % len(value)
                    if isinstance(value, bytes)
                    else (value[:4096] + f"...[truncated, {len(value)} chars]")
                )
            record[name if name not in record else f"orig_{name}"] = value
        pipe = self.client.pipeline(transaction=False)
        pipe.xadd(self.dlq, record, maxlen=DLQ_MAXLEN, approximate=True)
        pipe.xack(self.stream, self.group, entry.entry_id)
        pipe.execute()


def _entries(reply) -> list[Entry]:
    if not reply:
        return []
    # redis-py returns [[stream, [(id, fields), ...]]] (RESP2) or {stream: [[...]]} (RESP3).
    if isinstance(reply, dict):
        batches = list(reply.values())
        items = batches[0][0] if batches and batches[0] and isinstance(batches[0][0], list) else batches[0]
    else:
        items = reply[0][1]
    return [Entry(entry_id, fields or {}) for entry_id, fields in items]


def consumer_name(role: str) -> str:
    """A stable consumer name for this host, so a restarted process finds its own pending entries."""
    return f"{role}-{socket.gethostname()}"
