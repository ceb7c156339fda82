"""The outbox relay: publish committed ``OutboxMessage`` rows to Redis, in order, never skipping one.

Rows are claimed with ``SELECT … WHERE published_at IS NULL ORDER BY id FOR UPDATE SKIP LOCKED``
(never "id > last id", which skips a row whose transaction commits late) and marked in the same
statement; the mark commits only after Redis accepted the row, so a crash between the two
republishes it with the same message id, which the worker deduplicates. ``stream="risk"`` rows
are not stream entries: they SET the account's limits at ``{prefix}:risk:limits:{ACCOUNT}``.

A commit wakes the relay at once (``signals.py`` pushes to ``relay_wake_key`` on commit); without
a wake-up it polls every ``poll_seconds``. The sweep shows the order commands the worker
dead-lettered on their orders (``dead_letters.py``), then republishes commands the worker never
acknowledged. Every ``resync_seconds`` the kill switch's barrier in Redis is rewritten from the
database (``accounts.halt_barrier.halt_barrier_resync``): Redis may lose it, a rolled-back engage
may leave one behind.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import redis
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.halt_barrier import halt_barrier_resync
from accounts.models import OutboxMessage
from logclock import correlation
from streams import keys, sql
from streams.db import refresh_connections
from streams.dead_letters import dead_letters_settle
from streams.faults import faultpoint
from streams.redis_client import get_redis
from streams.services import outbox_acknowledge_forget
from tradeconsole.db import commit_without_flush_wait

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
# Commands are the worker's inbox: keep plenty, the worker acknowledges in milliseconds.
COMMANDS_MAXLEN = 100_000
# Command types whose receipt the worker's events prove (order.* events name the client_order_id).
ACKNOWLEDGEABLE = {"order.place", "order.cancel", "order.modify"}


def stream_fields(row: OutboxMessage) -> dict[str, str]:
    """Return the fields of the stream entry for ``row``: ``v``, ``type``, ``id``, ``ts``, ``data``,
    and ``cid``, the row's correlation id, when it has a well-formed one.

    ``ts`` is the time of publication; the worker measures its queueing delay from it.
    """
    fields = {
        "v": SCHEMA_VERSION,
        "type": row.type,
        "id": str(row.message_id),
        "ts": str(time.time_ns()),
        "data": json.dumps(row.data, separators=(",", ":"), sort_keys=True, default=str),
    }
    if correlation.well_formed(row.correlation_id):
        fields["cid"] = row.correlation_id
    return fields


def _log_published(rows: list[OutboxMessage], how: str) -> None:
    """One line per published row, with the row's correlation id (after the XADD: off the order path)."""
    for row in rows:
        with correlation.bound(row.correlation_id):
            level = logging.INFO if row.type.startswith(("order.", "trading.")) else logging.DEBUG
            logger.log(
                level, "%s %s %s %s", how, row.type, row.data.get("client_order_id") or row.message_id, row.stream
            )


def _write(pipe: redis.client.Pipeline, row: OutboxMessage) -> None:
    if row.stream == "risk":
        account = row.data.get("account", "")
        limits = row.data.get("limits", row.data)
        pipe.set(keys.risk_limits_key(account), json.dumps(limits, separators=(",", ":"), sort_keys=True, default=str))
    else:
        stream = keys.commands_stream() if row.stream == "commands" else f"{keys.prefix()}:{row.stream}"
        pipe.xadd(stream, stream_fields(row), maxlen=COMMANDS_MAXLEN, approximate=True)


def _claim(batch_size: int) -> list[OutboxMessage]:
    """Lock the next unpublished rows (id order, skipping rows another relay holds) and mark them.

    The marks belong to the caller's transaction: they count only if it commits, after Redis
    accepted the rows. One ``UPDATE … RETURNING`` (``streams.sql.outbox_claim``) claims and marks
    in a single round trip, which is on the path from a commit to the stream.
    """
    return sql.outbox_claim(batch_size)


def publish_pending(*, batch_size: int = 100, client: redis.Redis | None = None) -> int:
    """Publish up to ``batch_size`` unpublished rows in id order; return how many were published.

    Rows locked by another relay are skipped, not waited for. One pipeline carries the batch,
    so the entries reach the stream in id order. If Redis fails, nothing is marked and the
    transaction rolls back: the rows are retried on the next pass.

    :raises redis.RedisError: Redis is unreachable (the caller backs off and retries).
    """
    client = client or get_redis()
    with transaction.atomic():
        rows = _claim(batch_size)
        if not rows:
            return 0
        pipe = client.pipeline(transaction=False)
        for row in rows:
            _write(pipe, row)
        pipe.execute()
        faultpoint("after_xadd_before_mark")
        # The marks are cheap to lose: a mark lost in a crash means the row is published again with
        # the same message id, which the worker drops. Not waiting for the flush keeps the cycle at
        # about a millisecond, so the next commit's row is not queued behind an fsync. Set after
        # the XADD, so it is not on the path from commit to stream.
        commit_without_flush_wait()
    outbox_acknowledge_forget(r.data.get("client_order_id") for r in rows if r.type.startswith("order."))
    _log_published(rows, "published")
    return len(rows)


def republish_unacknowledged(
    *,
    older_than: timedelta = timedelta(seconds=10),
    max_publishes: int = 5,
    batch_size: int = 100,
    client: redis.Redis | None = None,
) -> int:
    """Publish again the commands the worker has not acknowledged ``older_than`` after publication.

    This covers a stream entry lost by Redis (a restart inside the AOF window, a trimmed
    stream). The message id is the same, so the worker applies it at most once. A row is
    republished at most ``max_publishes`` times in all; after that it stays for a person to see.

    :raises redis.RedisError: Redis is unreachable.
    """
    client = client or get_redis()
    cutoff = timezone.now() - older_than
    with transaction.atomic():
        rows = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(
                Q(published_at__lt=cutoff),
                acknowledged_at__isnull=True,
                stream="commands",
                type__in=ACKNOWLEDGEABLE,
                publish_count__lt=max_publishes,
            )
            .order_by("id")[:batch_size]
        )
        if not rows:
            return 0
        pipe = client.pipeline(transaction=False)
        for row in rows:
            _write(pipe, row)
        pipe.execute()
        OutboxMessage.objects.filter(id__in=[row.id for row in rows]).update(
            published_at=timezone.now(), publish_count=F("publish_count") + 1
        )
    logger.warning("relay republished %d unacknowledged command(s)", len(rows))
    _log_published(rows, "republished")
    return len(rows)


def wake(client: redis.Redis | None = None) -> None:
    """Tell a waiting relay that rows were committed (called on commit; never raises)."""
    try:
        client = client or get_redis()
        pipe = client.pipeline(transaction=False)
        pipe.lpush(keys.relay_wake_key(), "1")
        pipe.ltrim(keys.relay_wake_key(), 0, 15)
        pipe.expire(keys.relay_wake_key(), 60)
        pipe.execute()
    except redis.RedisError:
        # The relay's poll publishes the row anyway; a wake-up is only a shortcut.
        logger.warning("could not wake the relay; it will publish on its next poll", exc_info=True)


@dataclass
class RelayLoop:
    """The relay's loop, one step at a time: wait for a wake-up or the poll interval, then publish."""

    poll_seconds: float = 0.5
    sweep_seconds: float = 5.0
    resync_seconds: float = 2.0
    unacknowledged_after: timedelta = timedelta(seconds=10)
    batch_size: int = 100
    stop: threading.Event | None = None

    def __post_init__(self) -> None:
        self.stop = self.stop or threading.Event()
        self._next_sweep = time.monotonic() + self.sweep_seconds
        self._next_resync = 0.0
        self._backoff = 0.0

    def step(self) -> int:
        """Wait for work (at most ``poll_seconds``), publish every pending row, sweep when due.

        Returns how many rows were published. Redis or database errors are logged and backed
        off (0.1 s doubling to 5 s); they never end the loop.
        """
        client = get_redis()
        published = 0
        try:
            if self._backoff:
                self.stop.wait(self._backoff)
            # BLPOP's timeout is whole or fractional seconds; a wake-up ends the wait at once.
            # Each wake-up pops one entry; extra ones (the waker keeps at most 16) cost an empty pass,
            # never a missed row, which clearing the list here could cause.
            client.blpop([keys.relay_wake_key()], timeout=self.poll_seconds)
            refresh_connections()
            while True:
                count = publish_pending(batch_size=self.batch_size, client=client)
                published += count
                if count < self.batch_size:
                    break
            if time.monotonic() >= self._next_sweep:
                self._next_sweep = time.monotonic() + self.sweep_seconds
                # First: a command the worker dead-lettered is answered, never republished.
                dead_letters_settle(client=client)
                republish_unacknowledged(older_than=self.unacknowledged_after, client=client)
            if time.monotonic() >= self._next_resync:
                self._next_resync = time.monotonic() + self.resync_seconds
                try:
                    halt_barrier_resync()
                except Exception:
                    # Never a reason to slow publishing down: the next pass tries again.
                    logger.warning("kill switch barrier resync failed; retrying on the next pass", exc_info=True)
            self._backoff = 0.0
        except Exception:
            self._backoff = min(5.0, max(0.1, self._backoff * 2))
            logger.exception("relay step failed; retrying in %.1f s", self._backoff)
            refresh_connections()
        return published

    def run(self) -> None:
        """Step until ``stop`` is set (SIGTERM sets it)."""
        logger.info("relay running (poll %.1f s, sweep every %.0f s)", self.poll_seconds, self.sweep_seconds)
        try:
            while not self.stop.is_set():
                self.step()
        finally:
            # This thread's database connection must not outlive the loop.
            connection.close()
