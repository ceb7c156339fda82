"""Fan-out of changed rows to the Channels groups that live pages join, with a sequence per group.

Every message to a group carries ``seq`` (from ``INCR {prefix}:live:seq:{group}``) and the
``epoch`` (a token that changes when Redis lost the counters). A page renders its snapshot with
the cursor (the groups' ``seq`` read *before* the database) and the consumer forwards only
messages after it; a gap means something was lost between here and the page, and the page
reloads its snapshot. Delivery over the channel layer is lossy by design (design.md, I8).

Groups: ``acct.<account id>`` (orders, positions, values, sessions of one account), ``desk``
(gateway, processes, alerts, system figures: every signed-in user), ``md.<symbol>`` (quotes),
``user.<user id>`` (control messages to one user's sockets, such as "close"), ``notice.<user id>``
(one user's notices, the toasts every live page shows: ``streams.notices``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
from collections.abc import Iterable

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from streams import keys
from streams.redis_client import get_redis
from tradeconsole.breakers import BreakerOpen, redis_breaker

logger = logging.getLogger(__name__)

DESK_GROUP = "desk"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def account_group(account_id: int) -> str:
    return f"acct.{account_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def notice_group(user_id: int) -> str:
    """The group of one user's notices (fills, rejects, halts, the kill switch), joined by every live page."""
    return f"notice.{user_id}"


def market_group(symbol: str) -> str:
    """The group of one symbol's quotes (group names allow only ASCII letters, digits, ``_.-``)."""
    return "md." + _UNSAFE.sub("_", symbol)[:80]


def epoch(client: redis.Redis | None = None) -> str:
    """Return the current epoch, creating one if Redis has none (first start, or Redis lost its data)."""
    client = client or get_redis()
    value = client.get(keys.live_epoch_key())
    if value is None:
        client.set(keys.live_epoch_key(), secrets.token_hex(6), nx=True)
        value = client.get(keys.live_epoch_key())
    return value


def cursor(groups: Iterable[str], client: redis.Redis | None = None) -> dict[str, int]:
    """Return the last ``seq`` sent to each group (0 when none yet). Read it before the snapshot."""
    client = client or get_redis()
    groups = list(groups)
    if not groups:
        return {}
    values = client.mget([keys.live_seq_key(group) for group in groups])
    return {group: int(value or 0) for group, value in zip(groups, values, strict=True)}


def _message(group: str, seq: int, epoch_token: str, rows: list[dict], src_ts: int | None) -> dict:
    return {"type": "live.rows", "group": group, "seq": seq, "epoch": epoch_token, "rows": rows, "src_ts": src_ts}


def close_user_sockets(user_id: int) -> None:
    """Close every live page of one user (logout, deactivation). Never raises."""
    try:
        async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "session.close"})
    except Exception:
        logger.warning("could not close the sockets of user %s", user_id, exc_info=True)


class Fanout:
    """Send group messages from a long-running synchronous process without waiting for them.

    One asyncio loop in a daemon thread takes items in order from a bounded queue and sends them
    one after another, so messages to a group leave in the order their ``seq`` was taken. When
    the queue is full the update is dropped but its ``seq`` is still taken, so pages see the gap
    and resync instead of silently missing it.
    """

    def __init__(self, *, max_queue: int = 10_000) -> None:
        self.max_queue = max_queue
        self.sent = 0
        self.dropped = 0
        self._loop = asyncio.new_event_loop()
        self._queue: asyncio.Queue | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fanout", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._queue = asyncio.Queue()
        self._ready.set()
        self._loop.run_until_complete(self._drain())

    async def _drain(self) -> None:
        layer = get_channel_layer()
        while True:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            try:
                await layer.group_send(item["group"], item)
                self.sent += 1
            except Exception:
                logger.warning("fan-out to %s failed", item["group"], exc_info=True)

    def send(self, group: str, rows: list[dict], *, src_ts: int | None = None) -> bool:
        """Queue ``rows`` for ``group`` (after the change committed); return whether they were queued.

        Never blocks, never raises. Not queued: Redis was unavailable (the pages see no gap), or
        the queue was full (its ``seq`` is taken, so the pages see the gap and resync).
        """
        try:
            client = get_redis()
            # The epoch is read with the sequence number (one round trip): a process-wide sender
            # lives for days, and a cached epoch would outlive a Redis that lost its counters.
            pipe = client.pipeline(transaction=False)
            pipe.get(keys.live_epoch_key())
            pipe.incr(keys.live_seq_key(group))
            # Through the redis breaker: while Redis is out, each change skips at once instead of
            # waiting out a connect timeout per group.
            token, seq = redis_breaker().call(pipe.execute)
            token = token if token is not None else epoch(client)
        except BreakerOpen:
            logger.warning("fan-out to %s skipped: Redis unavailable (breaker open)", group)
            return False
        except redis.RedisError:
            logger.warning("fan-out to %s skipped: Redis unavailable", group, exc_info=True)
            return False
        if self._queue.qsize() >= self.max_queue:
            self.dropped += 1
            return False
        message = _message(group, seq, token, rows, src_ts)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, message)
        return True

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until what was queued before this call went to the channel layer; return whether it did."""
        done = threading.Event()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, done)
        return done.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Send what is queued (up to ``timeout``) and stop the thread."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, None)
        self._thread.join(timeout)
