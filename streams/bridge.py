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

What each event does is ``streams.bridge_events``; the counting and dead-lettering of failed
entries is ``streams.bridge_failures``; this module is the loop: read, apply in one transaction,
acknowledge.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import redis
from django.db import connection, transaction

from accounts.announce import stamped
from execution_worker import messages as m
from execution_worker.messages.consumer import Entry, StreamConsumer, consumer_name
from logclock import correlation
from streams import keys
from streams.bridge_events import apply_event
from streams.bridge_failures import EntryFailures
from streams.db import BatchLost, batch_doomed, connection_fault, refresh_connections
from streams.faults import faultpoint
from tradeconsole.exceptions import ApplicationError

logger = logging.getLogger(__name__)

GROUP = m.EVENTS_GROUP


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
        self.failures = EntryFailures(self.client, self.reader)

    @property
    def dead_lettered(self) -> int:
        """How many entries this bridge dead-lettered."""
        return self.failures.dead_lettered

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
                self.failures.dead_letter(entry, code=error.code, reason=str(error), attempts=1)
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
                        # The lines about the event carry its command's correlation id (its cid).
                        with (
                            correlation.bound(message.cid),
                            transaction.atomic(savepoint=savepoints),
                            stamped(message.ts),
                        ):
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
            self.failures.clear([entry.entry_id for entry, _ in applied])
            self.applied += len(applied)
            _log_applied(applied)
        for entry, message, error in refused:
            self.failures.refuse(entry, message, error)
        if failure is not None:
            entry, message, error = failure
            attempts = self.failures.count(entry.entry_id)
            self.reader.restart_pending()
            # A lost connection is no fault of the entry: it is retried until the database is back.
            if attempts >= self.max_failures and not connection_fault(error):
                logger.error("dead-lettering %s %s after %d failures: %s", message.TYPE, message.id, attempts, error)
                self.failures.dead_letter(
                    entry, code="bridge.failed", reason=f"{type(error).__name__}: {error}", attempts=attempts
                )
                return
            raise error

    def run(self) -> None:
        logger.info("bridge reading %s as %s/%s", keys.events_stream(), GROUP, self.consumer)
        try:
            while not self.stop.is_set():
                self.step()
        finally:
            # This thread's database connection must not outlive the loop.
            connection.close()


def _log_applied(applied: list[tuple[Entry, m.Message]]) -> None:
    """A line per applied event about an order, with the correlation id its command carried."""
    for _, message in applied:
        client_order_id = getattr(message, "client_order_id", None)
        if client_order_id:
            with correlation.bound(message.cid):
                logger.info("applied %s %s", message.TYPE, client_order_id)


def _redis_url() -> str:
    from django.conf import settings

    return settings.REDIS_URL
