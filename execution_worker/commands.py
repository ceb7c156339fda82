"""Command intake: the command thread's read of ``{prefix}:commands`` and what it does with each entry
before the command itself is applied: decode (dead-lettering what breaks the contract), halts first,
once per message id, and the acknowledgement queued behind the events the command produced."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from execution_worker import messages as m
from execution_worker.broker import NotConnected, SendFailed
from execution_worker.config import WorkerConfig
from execution_worker.faults import faultpoint
from execution_worker.messages.consumer import Entry, StreamConsumer
from execution_worker.publisher import Publisher
from execution_worker.store import Store
from logclock import correlation

log = logging.getLogger("execution_worker")
# Commands whose application is a line of an INFO log (with the command's correlation id).
ROUTED_AT_INFO = (m.OrderPlace, m.OrderCancel, m.OrderModify, m.TradingHalt, m.TradingResume)

# Commands whose message id is claimed before they are applied (at most once: a modify applied twice
# re-sends an old price after a newer one; a resume applied twice lifts a later halt). Cancels, halts
# and refreshes are recorded after their effect (at least once: a repeat is harmless, a loss is not).
CLAIM_BEFORE = (m.OrderModify, m.TradingResume)


class CommandIntake:
    """The command stream as the command thread reads it; only that thread uses this object.

    ``consumer`` reads the group (own pending entries first, stale entries of dead consumers claimed
    every ``claim_interval``) through ``redis``, a client of its own held on one connection once
    Redis answers; ``store`` is the worker's durable state through that same client, for the command
    thread's writes (records, claims of message ids, halts). ``handle`` applies one decoded command.
    """

    def __init__(
        self,
        config: WorkerConfig,
        names: m.StreamNames,
        publisher: Publisher,
        handle: Callable[[m.Message, float], None],
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.handle = handle
        # Pooled until Redis answers (``hold_connection``): the worker may start before Redis.
        self.redis = redis.Redis.from_url(config.redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.connection_held = False
        self.store = Store(self.redis, config.prefix)
        self.consumer = StreamConsumer(
            self.redis,
            stream=names.commands,
            group=m.COMMANDS_GROUP,
            consumer=config.consumer,
            dlq=names.dlq,
            min_idle_ms=config.claim_idle_ms,
            max_deliveries=config.max_deliveries,
        )
        self.next_claim = 0.0
        # After Redis failed a batch (it went away, or refused a command), the next read waits:
        # without it a refusal that does not pass (an ACL without a needed command) re-reads the
        # same entries in a tight loop. Doubles up to 2 s; a clean batch resets it. A lost TWS
        # session needs none: the worker's ready gate holds the loop.
        self.pending_backoff = 0.0

    def hold_connection(self) -> None:
        """Give the command loop one connection for good (single_connection_client): no pool checkout,
        readiness poll and release around the read, the record and the ack of every order.

        Done once Redis answers, because such a client connects as it is made and the worker may
        start before Redis. :raises redis.RedisError: Redis does not answer.
        """
        if self.connection_held:
            return
        client = redis.Redis.from_url(
            self.config.redis_url, socket_timeout=5, socket_connect_timeout=5, single_connection_client=True
        )
        pooled, self.redis = self.redis, client
        self.consumer.client = client
        self.store = Store(client, self.config.prefix)
        self.connection_held = True
        pooled.close()

    def read(self, block_ms: Callable[[], int | None]) -> list[Entry]:
        """Read one batch: stale entries of dead consumers when it is time to claim, else new or own
        pending entries, blocking for ``block_ms()`` (None: do not block)."""
        entries: list[Entry] = []
        now = time.monotonic()
        if now >= self.next_claim:
            self.next_claim = now + self.config.claim_interval
            entries = self.consumer.claim_stale(self.config.read_count)
        if not entries:
            entries = self.consumer.read(self.config.read_count, block_ms())
        return entries

    def handle_entries(self, entries: list[Entry]) -> None:
        """Decode and handle (``handle``) a batch in stream order, except that a halt is applied before the commands
        queued since the last resume before it (so they are refused), never before that resume."""
        decoded: list[tuple[Entry, m.Message, float]] = []
        for entry in entries:
            faultpoint("after_read_before_place")
            started = time.perf_counter()
            try:
                message = m.decode(entry.fields)
            except m.MessageError as error:
                log.warning("dead-lettering entry %s: %s (%s)", entry.entry_id, error, error.code)
                self.consumer.dead_letter(entry, code=error.code, reason=str(error))
                continue
            if type(message) not in m.COMMAND_TYPES:
                self.consumer.dead_letter(
                    entry, code=m.UNKNOWN_TYPE, reason=f"{message.TYPE} is an event, not a command"
                )
                continue
            # The decision clock counts this entry's own decode, not the time earlier entries took.
            decoded.append((entry, message, time.perf_counter() - started))
        # Each command's lines and events carry its correlation id (logclock.correlation).
        unbound = correlation.bind("")
        try:
            self._apply(decoded)
        finally:
            correlation.reset(unbound)

    def _apply(self, decoded: list[tuple[Entry, m.Message, float]]) -> None:
        for entry, message, decode_s in halts_first(decoded):
            kind = type(message)
            claimed = False
            correlation.bind(message.cid)
            if message.cid and kind is m.OrderPlace:
                self.publisher.correlate(message.client_order_id, message.cid)
            try:
                # A command is applied once per message id, durably: a redelivery, or a copy the relay
                # republished because no event acknowledged it yet, is acknowledged and skipped.
                # Places need none of this (client_order_id is claimed atomically before placeOrder).
                if kind in CLAIM_BEFORE:
                    claimed = self.store.claim_command(message.id, time.time_ns() // 1_000_000)
                    if not claimed:
                        self.skip_applied(entry, message)
                        continue
                elif kind is not m.OrderPlace and self.store.command_applied(message.id):
                    self.skip_applied(entry, message)
                    continue
                self.handle(message, time.perf_counter() - decode_s)
                if kind is not m.OrderPlace and not claimed:
                    self.store.claim_command(message.id, time.time_ns() // 1_000_000)
            except (NotConnected, SendFailed, redis.RedisError) as error:
                # TWS or Redis went away: this entry and the rest of the batch stay pending, in order,
                # and are read again first once ready. Transient by nature, so never dead-lettered.
                log.warning("command %s left pending: %r", message.id, error)
                if claimed:
                    self.release(message.id)
                self.consumer.restart_pending()
                if isinstance(error, redis.RedisError):
                    self.pending_backoff = min(2.0, max(0.02, self.pending_backoff * 2))
                return
            except Exception as error:
                log.exception("command %s failed", message.id)
                if claimed:
                    self.release(message.id)
                if self.consumer.should_dead_letter(entry):
                    self.consumer.dead_letter(entry, code="worker.failed", reason=repr(error))
                continue
            faultpoint("after_place_before_ack")
            self.ack_after_events(entry)
            # After the command went to TWS, so the line costs the order path nothing.
            # Routine commands (broker.refresh every monitoring run) stay out of an INFO log.
            level = logging.INFO if kind in ROUTED_AT_INFO else logging.DEBUG
            log.log(level, "%s %s applied", message.TYPE, getattr(message, "client_order_id", message.id))
        self.pending_backoff = 0.0

    def skip_applied(self, entry: Entry, message: m.Message) -> None:
        log.info("command %s (%s) was already applied; skipped", message.id, message.TYPE)
        self.ack_after_events(entry)

    def ack_after_events(self, entry: Entry) -> None:
        """Queue the command's acknowledgement behind the events it produced, for the same MULTI/EXEC.

        Acknowledged at once, a command whose outcome (``order.rejected``, ``order.accepted``) was
        still queued here was lost with a kill -9: nothing answered it, and its order stayed NEW
        until the relay republished it. Queued, the answer and the ack are written together or not
        at all; a redelivery finds the record and repeats the answer (``place``).
        """
        self.publisher.ack(self.consumer.stream, self.consumer.group, entry.entry_id)

    def release(self, message_id: str) -> None:
        """Un-claim a command that had no effect so its redelivery is applied (best effort: if Redis is
        down too, the redelivery is skipped as applied, which loses the command rather than doubles it)."""
        try:
            self.store.release_command(message_id)
        except redis.RedisError:
            log.error("could not release command %s; its redelivery will be skipped", message_id)


def halts_first(items: list[tuple]) -> list[tuple]:
    """Reorder a decoded batch: each halt moves ahead of the commands queued since the previous resume.

    A resume is a barrier: [resume, halt] stays in that order (the account ends halted), while
    [place, halt] becomes [halt, place] (the place, queued behind a kill switch, is refused).
    """
    out: list[tuple] = []
    halts: list[tuple] = []
    rest: list[tuple] = []
    for item in items:
        kind = type(item[1])
        if kind is m.TradingResume:
            out += halts + rest
            halts, rest = [], []
            out.append(item)
        elif kind is m.TradingHalt:
            halts.append(item)
        else:
            rest.append(item)
    return out + halts + rest
