"""The publisher: one queue of writes to Redis (events, order records, command acks) and the thread that writes them."""

from __future__ import annotations

import logging
import queue
import time

import redis

from execution_worker import messages as m
from execution_worker.store import OrderRecord
from logclock import correlation

log = logging.getLogger("execution_worker")

# The most queued items written in one MULTI/EXEC.
BATCH_LIMIT = 500
# Orders whose correlation id is remembered for the events of their later callbacks (oldest forgotten).
CORRELATIONS_KEPT = 50_000


class Publisher:
    """Every thread queues through ``emit``, ``persist`` and ``ack`` (``queue`` is thread-safe and never
    blocks a callback on Redis); only the publisher thread runs ``publish_step``, and owns
    ``unpublished`` (a batch Redis did not take) and ``closing``.
    """

    def __init__(self, client: redis.Redis, *, events_stream: str, orders_key: str, events_maxlen: int) -> None:
        self.redis = client
        self.events_stream = events_stream
        self.orders_key = orders_key
        self.events_maxlen = events_maxlen
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        # A batch Redis did not take: written again, before anything newer, on the next step.
        self.unpublished: list = []
        # Set by Worker.stop once nothing will be queued but the last status: the loop drains and ends.
        self.closing = False
        # client_order_id -> the correlation id of the command that placed it, for the events TWS's
        # callbacks cause later (fills, statuses) on threads where no id is bound. Only the command
        # thread writes it; in memory only, so a restarted worker's later events of older orders
        # carry none.
        self.correlations: dict[str, str] = {}

    def correlate(self, client_order_id: str, cid: str) -> None:
        """Remember ``cid`` as the correlation id of ``client_order_id``'s later events (command thread only)."""
        self.correlations[client_order_id] = cid
        if len(self.correlations) > CORRELATIONS_KEPT:
            del self.correlations[next(iter(self.correlations))]

    def emit(self, message: m.Message, *, stream: str | None = None, maxlen: int | None = None) -> None:
        """Queue an event for ``{prefix}:events`` (or ``stream``); the publisher writes it in order.

        The event carries a correlation id (``cid``): its own, else the one bound on this thread (the
        command being handled), else the one its order was placed with (``correlate``).
        """
        fields = m.encode(message)
        if not message.cid:
            cid = correlation.current() or self.correlations.get(getattr(message, "client_order_id", None) or "")
            if cid:
                fields["cid"] = cid
        self.queue.put(("xadd", stream or self.events_stream, fields, maxlen or self.events_maxlen))

    def persist(self, record: OrderRecord) -> None:
        """Queue a write of ``record`` behind the events already queued (callbacks never block on Redis)."""
        self.queue.put(("hset", self.orders_key, record.client_order_id, record.to_json()))

    def ack(self, stream: str, group: str, entry_id) -> None:
        """Queue a command's acknowledgement behind the events it produced, for the same MULTI/EXEC."""
        self.queue.put(("xack", stream, group, entry_id))

    def publish_step(self, wait: float = 0.1) -> int:
        """Write every queued event, record and command ack in one MULTI/EXEC; return how many were written.

        On a Redis error the batch is kept aside and written first on the next step (newer items are
        appended behind it), so nothing is lost or reordered; the transaction keeps a batch cut off
        mid-send from being half applied and then written again.
        """
        batch = self.unpublished
        if not batch:
            try:
                batch = [self.queue.get(timeout=wait)]
            except queue.Empty:
                return 0
        while len(batch) < BATCH_LIMIT:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        pipe = self.redis.pipeline(transaction=True)
        for item in batch:
            if item[0] == "xadd":
                _, stream, fields, maxlen = item
                if maxlen:
                    pipe.xadd(stream, fields, maxlen=maxlen, approximate=True)
                else:
                    pipe.xadd(stream, fields)
            elif item[0] == "xack":
                _, stream, group, entry_id = item
                pipe.xack(stream, group, entry_id)
            else:
                _, key, name, value = item
                pipe.hset(key, name, value)
        try:
            pipe.execute()
        except redis.RedisError:
            self.unpublished = batch
            raise
        self.unpublished = []
        return len(batch)

    def run(self) -> None:
        """The publisher thread's loop: write until ``closing`` is set and nothing is left to write."""
        while True:
            try:
                published = self.publish_step(0.1)
            except redis.RedisError:
                log.exception("could not publish events; retrying")
                time.sleep(0.5)
                continue
            if self.closing and not published and self.queue.empty() and not self.unpublished:
                return
