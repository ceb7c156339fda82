"""The topic hub: one reader of the bar and tick streams per web process, handing each entry to the
subscriptions of this process that want it.

Why a hub and not Channels groups: a group send per update per topic costs a Redis round trip
and a message per subscribed socket through the channel layer (PUBLISH, then each consumer's
receive); at 200 symbols x 5 ticks/s that is 5,000 bar updates a second before any socket
counts, and the layer may drop them. The streams are already in Redis, ordered and capped, so
each web process reads them once (one XREAD on one connection, whatever the number of sockets)
and dispatches in memory: an update costs one Redis read shared by every socket of the process
and a queue append per subscription. Several web processes each run their own hub and read the
same streams; nothing is shared between them but Redis. A hub follows a stream only while one
of its subscriptions wants it, from the id its first subscriber's snapshot was read at, so no
update between a snapshot and the live stream is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from dataclasses import dataclass, field
from decimal import Decimal

import redis
import redis.asyncio as aioredis

from execution_worker import messages as m
from marketdata.bars import BarRecord
from marketdata.keys import MarketKeys
from marketdata.topics.frames import bars_topic, quotes_topic
from marketdata.topics.quotes import quote_data

logger = logging.getLogger(__name__)

READ_COUNT = 2000
BLOCK_MS = 5000
RETRY_SECONDS = 1.0
# At most one read per this many seconds: under load a read returning as soon as any entry lands
# costs a round trip per tick, and the process's time went to the Redis socket (bench
# market_topics). Reading every 2 ms gathers them, for at most 2 ms more per update.
READ_INTERVAL = 0.002


BAR_KEYS = set(BarRecord.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class Update:
    """One update as every subscriber of its topic gets it: ``data``, and ``text``, its compact JSON."""

    data: dict
    text: str


def entry_key(entry_id: str) -> tuple[int, int]:
    """A stream entry id ("ms-seq") as a tuple that orders as Redis orders ids."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(eq=False)
class Subscription:
    """One socket's interest in one topic. ``deliver(payload)`` is the socket's; ``after`` is the stream
    position its snapshot covers (updates at or before it are already in the snapshot).

    Until ``start`` the updates are kept in ``pending``: the snapshot is being read.
    """

    topic: str
    stream: str
    deliver: object
    after: tuple[int, int] = (0, 0)
    pending: list | None = field(default_factory=list)

    def offer(self, key: tuple[int, int], payload: Update) -> None:
        if self.pending is not None:
            self.pending.append((key, payload))
        elif key > self.after:
            self.deliver(self, payload)

    def start(self, after: str) -> None:
        """Go live from stream position ``after``: deliver what came meanwhile after it, then every update."""
        self.after = entry_key(after)
        waiting, self.pending = self.pending or [], None
        for key, payload in waiting:
            self.offer(key, payload)


class TopicHub:
    """The reader of this process (one per event loop): follows streams, dispatches entries to subscriptions."""

    def __init__(self, url: str, prefix: str) -> None:
        self.keys = MarketKeys(prefix)
        self.client = aioredis.Redis.from_url(url, decode_responses=True)
        self.topics: dict[str, set[Subscription]] = {}
        self.cursors: dict[str, str] = {}
        self._task: asyncio.Task | None = None
        self._reading = False
        self.entries_read = 0
        self.bad_entries = 0

    # Subscriptions.

    def stream_of(self, topic: str) -> str:
        family, _, rest = topic.partition(":")
        return self.keys.bar_updates if family == "bars" else self.keys.ticks(rest)

    def add(self, topic: str, deliver) -> Subscription:
        """Register a subscription (pending until ``follow``); the caller reads the snapshot next."""
        subscription = Subscription(topic, self.stream_of(topic), deliver)
        self.topics.setdefault(topic, set()).add(subscription)
        return subscription

    def follow(self, subscription: Subscription, after: str) -> None:
        """Start ``subscription`` from stream position ``after`` (read before its snapshot), following its stream."""
        if subscription.stream not in self.cursors:
            self.cursors[subscription.stream] = after
            self._restart_read()
        subscription.start(after)

    def remove(self, subscription: Subscription) -> None:
        """Forget ``subscription``; stop following its stream when nothing here wants it any more."""
        subscribers = self.topics.get(subscription.topic)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self.topics[subscription.topic]
        if not any(sub.stream == subscription.stream for subs in self.topics.values() for sub in subs):
            self.cursors.pop(subscription.stream, None)
            if not self.cursors and self._task is not None:
                self._task.cancel()
                self._task = None

    # Reading.

    def _restart_read(self) -> None:
        # A blocked XREAD does not see a stream added after it started: begin a new one. A
        # cancelled read loses nothing, the cursors move only after a reply is dispatched.
        if self._task is not None and self._reading:
            self._task.cancel()
            self._task = None
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="market-topic-hub")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_read = 0.0
        while self.cursors:
            wait = next_read - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
                if not self.cursors:
                    return
            next_read = loop.time() + READ_INTERVAL
            streams = dict(self.cursors)
            self._reading = True
            try:
                reply = await self.client.xread(streams, count=READ_COUNT, block=BLOCK_MS)
            except (redis.RedisError, OSError):
                logger.warning("market topic hub: reading the streams failed", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            finally:
                self._reading = False
            for stream, entries in reply or []:
                self.dispatch(stream, entries)

    def dispatch(self, stream: str, entries: list) -> None:
        """Hand each entry of ``stream`` to the subscriptions of its topic; move the stream's cursor."""
        if stream not in self.cursors or not entries:
            return
        last = entries[-1][0]
        if entry_key(last) > entry_key(self.cursors[stream]):
            self.cursors[stream] = last
        self.entries_read += len(entries)
        is_bars = stream == self.keys.bar_updates
        for entry_id, fields in entries:
            topic, payload = self._bar(fields) if is_bars else self._quote(fields)
            subscribers = self.topics.get(topic) if topic else None
            if not subscribers:
                continue
            key = entry_key(entry_id)
            for subscription in tuple(subscribers):
                subscription.offer(key, payload)

    def _bar(self, fields: dict) -> tuple[str | None, Update | None]:
        raw = fields.get("bar")
        try:
            data = json.loads(raw)
            topic = bars_topic(data["symbol"], data["resolution"])
            if topic not in self.topics:
                # Most of the stream's bars have no subscriber here: routed on the two names only.
                return None, None
            check_bar(data)
        except (ValueError, TypeError, KeyError, ArithmeticError):
            # The builder's stream: one bad entry is counted and skipped, the others still go out.
            self.bad_entries += 1
            return None, None
        # The builder wrote BarRecord.encode(), compact JSON of as_dict(): sent on as it is.
        return topic, Update(data, raw)

    def _quote(self, fields: dict) -> tuple[str | None, Update | None]:
        try:
            tick = m.decode(fields)
        except m.MessageError:
            self.bad_entries += 1
            return None, None
        if not isinstance(tick, m.MarketData):
            return None, None
        topic = quotes_topic(tick.symbol)
        if topic not in self.topics:
            return None, None
        data = quote_data(tick)
        return topic, Update(data, json.dumps(data, separators=(",", ":")))


def check_bar(data: dict) -> None:
    """Check that ``data`` is a bar as ``BarRecord.as_dict()`` gives it (decimal strings, whole seconds).

    Cheaper than decoding and re-encoding it; raises ``ValueError``, ``TypeError``, ``KeyError``
    or ``ArithmeticError`` when it is not.
    """
    if not isinstance(data, dict) or set(data) != BAR_KEYS:
        raise KeyError("not the keys of a bar")
    for name in ("open", "high", "low", "close", "volume"):
        if not isinstance(data[name], str):
            raise TypeError(name)
        Decimal(data[name])
    if type(data["time"]) is not int or type(data["closed"]) is not bool:
        raise TypeError("time or closed")


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TopicHub] = weakref.WeakKeyDictionary()


def hub_for_this_loop(url: str, prefix: str) -> TopicHub:
    """The hub of the running event loop (daphne runs one per process), made on first use."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.keys.prefix != prefix:
        hub = _hubs[loop] = TopicHub(url, prefix)
    return hub
