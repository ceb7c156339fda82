"""The market topics socket (``/ws/market/``): subscribe to bars and quotes, get a snapshot, then every update.

The protocol is in ``marketdata/asyncapi.json`` (served at ``/api/v1/asyncapi.json``). A socket
is opened by a desk member, by session cookie or API token; an anonymous one is accepted only to
be told why and closed with 4401 (4403 for a user with no desk role), so a browser's script
sees the reason instead of a bare failed handshake. Bad frames are answered with a stable code
and the socket stays open.

Updates come from this process's ``TopicHub``; each socket owns a bounded queue of frames and a
task that sends them in order. The hub only appends to queues, never waits on a socket, so one
slow client cannot hold up the others: a socket whose queue is full is told ``ws.slow_consumer``
and closed with 4008 (it reconnects and takes fresh snapshots). Updates carry ``seq``, counting
from 1 per subscription, so a client sees a gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

import redis
from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from marketdata import bars, windows
from marketdata.topics import frames
from marketdata.topics.access import may_read_market_data, socket_user
from marketdata.topics.encoding import chosen_subprotocol, dumps
from marketdata.topics.hub import Subscription, Update, hub_for_this_loop
from marketdata.topics.snapshots import bars_snapshot, instrument_known, quote_snapshot
from streams.live import user_group

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_SLOW = 4008


class MarketConsumer(AsyncWebsocketConsumer):
    """One client's market topics: see the module docstring."""

    async def connect(self) -> None:
        subprotocol = chosen_subprotocol(list(self.scope.get("subprotocols") or []))
        self.subscriptions: dict[str, Subscription] = {}
        self.seq: dict[str, int] = {}
        self.outbox: deque[dict | str] = deque()
        self.wake = asyncio.Event()
        self.closing = False
        self.tasks: list[asyncio.Task] = []
        self.hub = None
        # Read once: settings are a lazy object, slow enough to show on the per-update path.
        self.max_queued = settings.MARKET_TOPICS_QUEUE_FRAMES
        user = await sync_to_async(socket_user)(self.scope)
        allowed = user is not None and await sync_to_async(may_read_market_data)(user)
        await self.accept(subprotocol)
        if not allowed:
            code, status = (
                (frames.UNAUTHENTICATED, CLOSE_UNAUTHENTICATED) if user is None else (frames.FORBIDDEN, CLOSE_FORBIDDEN)
            )
            text = "Sign in, or present an API token." if user is None else "You hold no desk role."
            await self._send_now({"type": "error", "error": {"code": code, "message": text}})
            await self._close(status)
            return
        self.user = user
        self.user_group = user_group(user.pk)
        if self.channel_layer is not None:
            # Logout and deactivation close the user's sockets through this group (streams.live).
            await self.channel_layer.group_add(self.user_group, self.channel_name)
        self.hub = hub_for_this_loop(settings.REDIS_URL, settings.STREAM_PREFIX)
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._send_loop()), loop.create_task(self._heartbeat_loop())]

    async def disconnect(self, code: int) -> None:
        self.closing = True
        for task in getattr(self, "tasks", []):
            task.cancel()
        self._drop_subscriptions()
        if getattr(self, "user_group", None) and self.channel_layer is not None:
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def session_close(self, event: dict) -> None:
        """The user logged out or was deactivated: close this socket."""
        await self._close(CLOSE_UNAUTHENTICATED)

    # Inbound.

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or self.hub is None:
            return
        raw = text_data if text_data is not None else bytes_data
        limit = settings.MARKET_TOPICS_MAX_FRAME_BYTES
        try:
            if isinstance(raw, str) and len(raw) * 4 > limit and len(raw.encode("utf-8")) > limit:
                raise frames.FrameRefused(frames.FRAME_TOO_LARGE, f"Frames are limited to {limit} bytes.")
            request = frames.parse(frames.load(raw or "", max_bytes=limit))
        except frames.FrameRefused as refused:
            self._queue(frames.refusal(refused))
            return
        if request.kind == "ping":
            self._queue({"type": "pong", "id": request.request_id})
        elif request.kind.endswith(".unsubscribe"):
            self._unsubscribe(request)
        else:
            await self._subscribe(request)

    async def _subscribe(self, request: frames.Request) -> None:
        topic = request.topic
        replacing = self.subscriptions.pop(topic, None)
        if replacing is not None:
            # Subscribing again is how a client that saw a gap asks for a fresh snapshot.
            self.hub.remove(replacing)
        if len(self.subscriptions) >= settings.MARKET_TOPICS_MAX_SUBSCRIPTIONS:
            limit = settings.MARKET_TOPICS_MAX_SUBSCRIPTIONS
            self._refuse(request, frames.TOO_MANY_SUBSCRIPTIONS, f"A connection holds at most {limit} subscriptions.")
            return
        if not await sync_to_async(instrument_known)(request.symbol):
            self._refuse(request, frames.UNKNOWN_SYMBOL, f"{request.symbol} is not an instrument of the desk.")
            return
        if self.closing:
            return
        subscription = self.hub.add(topic, self._deliver)
        self.subscriptions[topic] = subscription
        try:
            if request.family == "bars":
                after, snapshot = await sync_to_async(bars_snapshot, thread_sensitive=False)(
                    request.symbol, request.resolution
                )
            else:
                after, snapshot = await sync_to_async(quote_snapshot, thread_sensitive=False)(request.symbol)
        except (redis.RedisError, bars.BadBar, windows.BadWindow) as exc:
            logger.warning("market topic %s: snapshot failed", topic, exc_info=True)
            self._forget(topic)
            code = getattr(exc, "code", frames.UNAVAILABLE)
            self._refuse(request, code, "The snapshot could not be read; try again.")
            return
        if self.subscriptions.get(topic) is not subscription:
            return  # unsubscribed or closed while the snapshot was read
        self.seq[topic] = 0
        self._queue(frames.response(request.kind, request.request_id, {"topic": topic, "snapshot": snapshot}))
        self.hub.follow(subscription, after)

    def _unsubscribe(self, request: frames.Request) -> None:
        topic = request.topic
        if topic not in self.subscriptions:
            self._refuse(request, frames.NOT_SUBSCRIBED, f"This connection is not subscribed to {topic}.")
            return
        self._forget(topic)
        self._queue(frames.response(request.kind, request.request_id, {"topic": topic}))

    def _refuse(self, request: frames.Request, code: str, message: str) -> None:
        refused = frames.FrameRefused(code, message, kind=request.kind, request_id=request.request_id)
        self._queue(frames.refusal(refused))

    def _forget(self, topic: str) -> None:
        subscription = self.subscriptions.pop(topic, None)
        self.seq.pop(topic, None)
        if subscription is not None:
            self.hub.remove(subscription)

    def _drop_subscriptions(self) -> None:
        if self.hub is not None:
            for topic in list(self.subscriptions):
                self._forget(topic)

    # Outbound.

    def _deliver(self, subscription: Subscription, payload: Update) -> None:
        """Called by the hub, never waits: queue one update, or give up on a client that fell too far behind."""
        if self.closing:
            return
        if len(self.outbox) >= self.max_queued:
            self._too_slow()
            return
        topic = subscription.topic
        seq = self.seq[topic] = self.seq.get(topic, 0) + 1
        kind = "bars.update" if topic.startswith("bars:") else "quotes.update"
        # The hub encoded the data once for every subscriber; the topic passed the symbol check.
        self.outbox.append(f'{{"type":"{kind}","topic":"{topic}","seq":{seq},"data":{payload.text}}}')
        self.wake.set()

    def _queue(self, frame: dict) -> None:
        if not self.closing:
            self.outbox.append(frame)
            self.wake.set()

    def _too_slow(self) -> None:
        self.closing = True
        self.outbox.clear()
        self._drop_subscriptions()
        logger.info("market topics: user %s closed, %d frames waiting", self.user.pk, self.max_queued)
        message = "This connection fell too far behind its updates; reconnect and subscribe again."
        error = {"type": "error", "error": {"code": frames.SLOW_CONSUMER, "message": message}}

        async def tell_and_close() -> None:
            await self._send_now(error)
            await self._close(CLOSE_SLOW)

        self.tasks.append(asyncio.get_running_loop().create_task(tell_and_close()))

    async def _send_loop(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.outbox and not self.closing:
                await self._send_now(self.outbox.popleft())

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(settings.MARKET_TOPICS_HEARTBEAT_SECONDS)
            self._queue({"type": "heartbeat", "ts": time.time_ns() // 1_000_000})

    async def _send_now(self, frame: dict | str) -> None:
        await self.send(text_data=frame if isinstance(frame, str) else dumps(frame))

    async def _close(self, code: int) -> None:
        self.closing = True
        await self.close(code=code)
