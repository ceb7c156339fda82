"""The WebSocket consumer of the live pages: forwards rows of the user's accounts, in order, bounded.

One socket per open page (``/ws/live/?page=blotter&account=3&status=FILLED``). ``connect`` refuses
anonymous or inactive users (close 4401) and an account the user is not a member of (close 4403);
it joins only groups derived on the server from the user's memberships. The socket carries no
commands: the browser sends only ``hello`` (its snapshot's epoch and cursor) and ``ack`` (flow
control), each validated and size-limited.

Ordering and loss: each group message has a ``seq``; a message at or below the page's cursor is
already in its snapshot and is dropped, a jump past ``cursor + 1`` is a gap and the page is told
to ``resync`` (reload its snapshot and say ``hello`` again). Updates to the same row inside
``MERGE_SECONDS`` are merged (the latest wins, the first goes at once). A page that does not
acknowledge what it was sent (``MAX_UNACKED`` frames) or piles up more than ``MAX_PENDING_ROWS``
merged rows is closed with 4008 so that it resyncs, instead of growing server memory.

Who may see what is ``streams.socket_access``; how a row becomes part of a frame (rendered once,
kept or removed by the page's filters) is ``streams.row_frames``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from streams import live
from streams.notices import NOTICE
from streams.pages import PAGES, groups_for, market_symbols
from streams.row_frames import row_json, row_op
from streams.socket_access import socket_access_load, socket_session_valid, socket_two_factor_verified

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 4096
MERGE_SECONDS = 0.05
MAX_UNACKED = 1000
MAX_PENDING_ROWS = 1000
MAX_BACKLOG = 1000
REVALIDATE_SECONDS = 60.0
FRAME_WINDOW_SECONDS = 0.002

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400
CLOSE_RESYNC = 4008


class LiveConsumer(AsyncWebsocketConsumer):
    """One live page's socket: see the module docstring for the protocol."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if not await sync_to_async(socket_two_factor_verified)(self.scope):
            # Signed in by password but not by the authenticator code the user owes: as signed out.
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        query = self._query()
        self.page = PAGES.get(query.get("page", ""))
        if self.page is None:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        access = await sync_to_async(socket_access_load)(user)
        accounts = access["accounts"]
        wanted = query.get("account")
        if wanted:
            # isascii too: str.isdigit takes "²", which int() refuses.
            if not (wanted.isascii() and wanted.isdigit()) or int(wanted) not in accounts:
                logger.warning("live socket refused: user %s asked for account %r", user.pk, wanted)
                await self.close(code=CLOSE_FORBIDDEN)
                return
            accounts = {int(wanted)}
        self.accounts = accounts
        # A notice (toast) may name any account of the user, whichever one the page is narrowed to.
        self.member_accounts = access["accounts"]
        self.flags = {k: v for k, v in access.items() if k != "accounts"}
        self.filters = {k: query[k] for k in ("status", "strategy", "working", "q") if query.get(k)}
        symbols = await sync_to_async(market_symbols)(accounts, user_id=user.pk) if self.page.market_groups else []
        groups = groups_for(self.page, user_id=user.pk, account_ids=accounts, symbols=symbols)
        self.groups_joined = groups
        self.cursor: dict[str, int] | None = None  # None until the page says hello
        self.epoch: str | None = None
        self.sent = 0
        self.acked = 0
        self.pending: OrderedDict[str, dict] = OrderedDict()
        # Group messages that arrive while the page (re)loads its snapshot, replayed after its hello.
        self.backlog: list[dict] = []
        self.last_sent: dict[str, float] = {}
        self.flush_handle: asyncio.TimerHandle | None = None
        self.out_items: list[dict] = []
        self.out_handle: asyncio.Handle | None = None
        self.frame_at = 0.0  # loop time of the last rows frame
        self.closing = False
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        self.revalidate_task = asyncio.ensure_future(self._revalidate_periodically())

    async def disconnect(self, code: int) -> None:
        if getattr(self, "revalidate_task", None) is not None:
            self.revalidate_task.cancel()
        if getattr(self, "flush_handle", None) is not None:
            self.flush_handle.cancel()
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _revalidate_periodically(self) -> None:
        """Close the socket when its session ended or its user was disabled, even if no signal reached us.

        The logout and deactivation signals close sockets at once; this catches what they cannot
        (a session expired, deleted from another process, a password changed).
        """
        while True:
            await asyncio.sleep(REVALIDATE_SECONDS)
            if not await sync_to_async(socket_session_valid)(self.scope):
                logger.info("live socket closed: the session of user %s is no longer valid", self.scope["user"].pk)
                self.closing = True
                await self.close(code=CLOSE_UNAUTHENTICATED)
                return

    # Inbound: hello and ack only.

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None or text_data is None:
            await self._refuse("frame.not_text", "frames must be JSON text")
            return
        if len(text_data) > MAX_FRAME_BYTES:
            await self._refuse("frame.too_large", f"frames are limited to {MAX_FRAME_BYTES} bytes")
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._refuse("frame.not_json", "the frame is not valid JSON")
            return
        if not isinstance(frame, dict) or frame.get("type") not in ("hello", "ack"):
            await self._refuse("frame.unknown_type", "frames are hello or ack")
            return
        if frame["type"] == "ack":
            n = frame.get("n")
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= self.sent:
                await self._refuse("frame.bad_ack", "ack.n must be an integer no larger than the frames sent")
                return
            self.acked = max(self.acked, n)
            return
        await self._hello(frame)

    async def _hello(self, frame: dict) -> None:
        cursor, epoch = frame.get("cursor"), frame.get("epoch")
        if (
            not isinstance(cursor, dict)
            or not isinstance(epoch, str)
            or len(cursor) > 200
            or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in cursor.items())
        ):
            await self._refuse("frame.bad_hello", "hello needs epoch (string) and cursor (group → integer)")
            return
        current_epoch = await sync_to_async(live.epoch)()
        current = await sync_to_async(live.cursor)(self.groups_joined)
        # A group the snapshot did not cover starts from its current seq: its rows were not shown.
        mine = {group: cursor.get(group, current[group]) for group in self.groups_joined}
        if epoch != current_epoch or any(current[group] < seq for group, seq in mine.items()):
            await self._send({"t": "resync", "why": "epoch"})
            return
        for group, seq in mine.items():
            if current[group] > seq and not any(e["group"] == group and e["seq"] == seq + 1 for e in self.backlog):
                # Updates after the snapshot went out before this socket joined the group.
                self.backlog.clear()
                await self._send({"t": "resync", "why": "behind"})
                return
        self.epoch, self.cursor = epoch, mine
        self.pending.clear()
        await self._send({"t": "ready"})
        backlog, self.backlog = self.backlog, []
        for event in backlog:
            if self.cursor is None:
                break
            await self._apply(event)

    async def _refuse(self, code: str, detail: str) -> None:
        await self.send(text_data=json.dumps({"t": "error", "code": code, "detail": detail}))
        await self.close(code=CLOSE_BAD_REQUEST)

    # Outbound.

    async def dispatch(self, message: dict) -> None:
        """Handle one message; row messages skip channels' per-message database cleanup.

        Since channels 4.2, ``dispatch`` closes stale database connections before every message,
        through ``sync_to_async``: a hop to the one thread all sockets of the process share. Row
        messages never touch the database, and at thousands of rows a second that hop was most
        of daphne's time. Every other message (connect, hello, ack, close) keeps the cleanup.
        """
        if message.get("type") == "live.rows":
            await self.live_rows(message)
            return
        await super().dispatch(message)

    async def session_close(self, event: dict) -> None:
        """The user logged out or was deactivated: close this socket."""
        await self.close(code=CLOSE_UNAUTHENTICATED)

    async def live_rows(self, event: dict) -> None:
        """A group message: keep it while the page loads its snapshot, else apply it."""
        if self.closing:
            return
        if self.cursor is None:
            if len(self.backlog) < MAX_BACKLOG:
                self.backlog.append(event)
            else:
                # Too much arrived meanwhile: drop it all; hello then sees the gap and asks for a resync.
                self.backlog.clear()
            return
        await self._apply(event)

    async def _apply(self, event: dict) -> None:
        """Check the message's place in its group's sequence, then send or merge its rows."""
        group, seq = event["group"], event["seq"]
        last = self.cursor.get(group)
        if last is None:
            return
        if event.get("epoch") != self.epoch:
            await self._resync("epoch")
            return
        if seq <= last:
            return
        if seq != last + 1:
            await self._resync("gap")
            return
        self.cursor[group] = seq
        now = time.monotonic()
        ready = []
        for row in event["rows"]:
            notice = row["kind"] == NOTICE
            if not notice and row["kind"] not in self.page.kinds:
                continue
            account_id = row.get("account_id")
            if account_id is not None and account_id not in (self.member_accounts if notice else self.accounts):
                continue
            item = {"row": row, "group": group, "seq": seq, "src_ts": row.get("src_ts") or event.get("src_ts")}
            dom_id = row["id"]
            if dom_id in self.pending:
                self.pending[dom_id] = item
            elif now - self.last_sent.get(dom_id, 0.0) >= MERGE_SECONDS:
                ready.append(item)
                self.last_sent[dom_id] = now
            else:
                self.pending[dom_id] = item
                if len(self.pending) > MAX_PENDING_ROWS:
                    await self._resync("overflow", close=True)
                    return
                self._arm_flush(self.last_sent[dom_id] + MERGE_SECONDS - now)
        if ready:
            await self._queue_rows(ready)

    async def _queue_rows(self, items: list[dict]) -> None:
        """Send ``items`` in the next frame: at once after a quiet spell, else joined with what follows.

        Under load the layer hands over many group messages back to back; sending them as one
        frame costs daphne one WebSocket write instead of one per message. So a frame goes out
        at the earliest ``FRAME_WINDOW_SECONDS`` after the previous one, and rows that arrive
        meanwhile join it; a row that finds the socket quiet waits for nothing.
        """
        self.out_items.extend(items)
        if self.out_handle is not None:
            return
        loop = asyncio.get_running_loop()
        delay = self.frame_at + FRAME_WINDOW_SECONDS - loop.time()
        if delay <= 0:
            # Sent from here, not from a timer and a task of its own: per socket and row, that
            # scheduling was a good part of what a group message cost daphne.
            await self._send_out()
        else:
            self.out_handle = loop.call_later(delay, lambda: asyncio.ensure_future(self._send_out()))

    async def _send_out(self) -> None:
        self.out_handle = None
        items, self.out_items = self.out_items, []
        if items and self.cursor is not None:
            self.frame_at = asyncio.get_running_loop().time()
            await self._send_rows(items)

    def _arm_flush(self, delay: float) -> None:
        if self.flush_handle is None:
            loop = asyncio.get_running_loop()
            self.flush_handle = loop.call_later(max(0.0, delay), lambda: asyncio.ensure_future(self._flush()))

    async def _flush(self) -> None:
        self.flush_handle = None
        if self.closing or not self.pending:
            return
        now = time.monotonic()
        due, later = [], 1.0
        for dom_id in list(self.pending):
            wait = self.last_sent.get(dom_id, 0.0) + MERGE_SECONDS - now
            if wait <= 0.0005:
                due.append(self.pending.pop(dom_id))
                self.last_sent[dom_id] = now
            else:
                later = min(later, wait)
        if self.pending:
            self._arm_flush(later)
        if due:
            await self._send_rows(due)

    async def _send_rows(self, items: list[dict]) -> None:
        parts = [
            row_json(
                item["row"],
                self._flags_for(item["row"]),
                row_op(item["row"], self.filters),
                (self.epoch, item["group"], item["seq"]),
                item.get("src_ts"),
            )
            for item in items
        ]
        src = [item["src_ts"] for item in items if item.get("src_ts")]
        await self._send_text(
            '{"t":"rows","src_ts":' + json.dumps(max(src) if src else None) + ',"rows":[' + ",".join(parts) + "]"
        )

    def _flags_for(self, row: dict) -> dict:
        return self.flags

    async def _send(self, frame: dict) -> None:
        await self._send_text(json.dumps(frame, separators=(",", ":"))[:-1])

    async def _send_text(self, open_frame: str) -> None:
        """Send a frame given as a JSON object without its closing brace; ``n`` is added here."""
        if self.closing:
            return
        if self.sent - self.acked >= MAX_UNACKED:
            await self._resync("slow", close=True)
            return
        self.sent += 1
        await self.send(text_data=f'{open_frame},"n":{self.sent}}}')

    async def _resync(self, why: str, *, close: bool = False) -> None:
        """Tell the page its view is stale. ``close``: it cannot keep up, end the socket (4008)."""
        self.cursor = None
        self.pending.clear()
        self.backlog.clear()
        self.out_items.clear()
        if close:
            self.closing = True
            logger.info("live socket closed for resync (%s): user %s", why, self.scope["user"].pk)
            await self.close(code=CLOSE_RESYNC)
            return
        await self._send({"t": "resync", "why": why})

    def _query(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        raw = self.scope.get("query_string", b"").decode("latin-1")[:1000]
        return {k: v[:64] for k, v in parse_qsl(raw)}
