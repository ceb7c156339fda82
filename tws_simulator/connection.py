"""One client connection: handshake state machine, framing, pacing, request dispatch and the write path.

Reading never waits on processing: ``data_received`` cuts frames and stamps their arrival
(``time.time_ns()``, once per socket read, before any processing); paced requests wait in a queue
while the socket keeps being drained.

The write path keeps every write off a 4096-byte boundary: ibapi's reader (9.81 and 10.x,
``Connection._recvAllMsg``) recv()s 4096 bytes while a read fills the buffer, and when the next
recv() times out (1 s) it discards what it read, so a burst ending exactly on the boundary is lost.
A write of 4096*k bytes gets one more zero in a float field of one of its messages
(:func:`tws_simulator.wire.stretch`); a burst without such a field leaves in two writes, cut off the
boundary, the second :data:`TAIL_DELAY` later. No message of its own is ever sent for this.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from tws_simulator import encoder as enc
from tws_simulator import parser as p
from tws_simulator.engine import SUMMARY_TAGS
from tws_simulator.wire import (
    API_PREFIX,
    SERVER_VERSION,
    FrameError,
    FrameReader,
    frame,
    parse_version_string,
    split_fields,
    split_point,
    stretch,
)

if TYPE_CHECKING:
    from tws_simulator.simulator import Simulator

log = logging.getLogger("tws_simulator.connection")

# How long the second part of a cut burst waits: long enough for an idle client to have read the first
# part (so it never sees both as one boundary-ending read), short against ibapi's 1 s read timeout.
TAIL_DELAY = 0.05

PACING_TEXT = "Max rate of messages per second has been exceeded."
FARM_OK = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)


class Connection(asyncio.Protocol):
    """The server side of one API client socket."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.transport: asyncio.Transport | None = None
        self.state = "prefix"
        self.prefix = b""
        self.reader = FrameReader()
        self.client_id = -1
        self.options = ""
        self.pace = sim.config.pacing_mode == "pace"
        self.positions_subscribed = False
        self.account_summaries: dict[int, list[str]] = {}
        self.market_data: dict[int, tuple[str, bool]] = {}
        self.market_data_type = 1
        self.tokens = float(sim.config.pacing_rate)
        self.refilled = time.monotonic()
        self.violations = 0
        self.backlog: deque[tuple[list[str], int]] = deque()
        self.backlog_timer: asyncio.TimerHandle | None = None
        # Writes waiting for their time: (due, data, offset of the first whole frame in data).
        self.delayed: deque[tuple[float, bytes, int]] = deque()
        self.delayed_timer: asyncio.TimerHandle | None = None
        self.held_status: bytes | None = None
        self.sent_bytes = 0
        # While a socket read is being handled, replies collect here and leave in one write at its end.
        self.batch: list[bytes] | None = None

    # -- transport events ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sim.connections.add(self)
        if self.sim.faults.hang_handshake:
            self.state = "hung"

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = "closed"
        self.sim.connections.discard(self)
        if self.sim.engine.sessions.get(self.client_id) is self:
            del self.sim.engine.sessions[self.client_id]
            self.sim.engine.client_gone(self.client_id)
        if self.backlog_timer:
            self.backlog_timer.cancel()
        if self.delayed_timer:
            self.delayed_timer.cancel()

    def data_received(self, data: bytes) -> None:
        arrived_ns = time.time_ns()
        if self.state == "ready":
            try:
                payloads = self.reader.feed(data)
            except FrameError:
                self.close()
                return
            self.batch = []
            try:
                for payload in payloads:
                    try:
                        self._on_message(split_fields(payload), arrived_ns)
                    except Exception:  # nothing a client sends may take the simulator down
                        log.exception("message from client %s failed", self.client_id)
                        self.send([enc.error(-1, 320, "Error reading request. Unable to parse data.")])
                    if self.state != "ready":
                        return
            finally:
                batch, self.batch = self.batch, None
                if batch:
                    self._flush(batch[0] if len(batch) == 1 else b"".join(batch))
            return
        if self.state in ("hung", "closed"):
            return
        try:
            self._handshake(data)
        except Exception:  # nothing a client sends may take the simulator down
            log.exception("handshake of a client failed")
            self.close()

    # -- handshake -----------------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        if self.state == "prefix":
            self.prefix += data
            if len(self.prefix) < 4:
                if not API_PREFIX.startswith(self.prefix):
                    self.close()
                return
            if not self.prefix.startswith(API_PREFIX):
                self.close()
                return
            data, self.prefix = self.prefix[4:], b""
            self.state = "version"
        try:
            payloads = self.reader.feed(data)
        except FrameError:
            self.close()
            return
        for payload in payloads:
            if self.state == "version":
                try:
                    low, high, self.options = parse_version_string(payload.decode("latin-1"))
                except FrameError:
                    self.close()
                    return
                if high < SERVER_VERSION or low > SERVER_VERSION:
                    self.close()  # TWS ends the connection on incompatible versions
                    return
                if "+PACEAPI" in self.options.split():
                    self.pace = True
                connected = time.strftime("%Y%m%d %H:%M:%S", time.gmtime()) + " UTC"
                self._write(enc_handshake(connected))
                self.state = "start_api"
            elif self.state == "start_api":
                fields = split_fields(payload)
                if not fields or fields[0] != str(p.START_API) or len(fields) < 3:
                    continue  # TWS ignores requests before START_API
                try:
                    client_id = p.parse_int(fields[2])
                except p.RequestError:
                    self.close()
                    return
                self._start_api(client_id)
                if self.state != "ready":
                    return
            else:
                self._on_message(split_fields(payload), time.time_ns())

    def _start_api(self, client_id: int) -> None:
        sim = self.sim
        engine = sim.engine
        in_use = "Unable to connect as the client id is already in use. Retry with a unique client id."
        if sim.faults.client_id_in_use > 0 or client_id in engine.sessions:
            if sim.faults.client_id_in_use > 0:
                sim.faults.client_id_in_use -= 1
            self._write(enc.error(-1, 326, in_use))
            self.close(graceful=True)
            return
        if len(engine.sessions) >= sim.config.max_clients:
            self._write(enc.error(-1, 326, in_use))
            self.close(graceful=True)
            return
        self.client_id = client_id
        self.state = "ready"
        engine.sessions[client_id] = self
        frames = [enc.managed_accounts(sim.config.accounts)]
        orders = engine.open_order_frames(client_id) if sim.config.open_orders_on_connect != "off" else []
        if sim.config.open_orders_on_connect == "before":
            frames += orders
        frames.append(enc.next_valid_id(engine.next_valid_id(client_id)))
        if sim.config.open_orders_on_connect == "after":
            frames += orders
        frames += [enc.error(-1, code, text) for code, text in FARM_OK]
        self.send(frames)

    # -- requests ------------------------------------------------------------------------------

    def _on_message(self, fields: list[str], arrived_ns: int) -> None:
        if not fields:
            return
        if fields[0] == "3":
            # Stamp and record before pacing or any processing: the ledger is what the client sent.
            try:
                order = p.parse_place_order(fields)
            except p.RequestError as exc:
                self.send([enc.error(exc.req_id, exc.code, exc.text)])
                return
            self.sim.ledger.record_place_order(order, client_id=self.client_id, arrived_ns=arrived_ns)
            request: list | p.PlaceOrder = order
        else:
            request = fields
        rate = self.sim.config.pacing_rate
        if rate > 0:
            now = time.monotonic()
            self.tokens = min(rate, self.tokens + (now - self.refilled) * rate)
            self.refilled = now
            if self.backlog or self.tokens < 1.0:
                if self.pace:
                    self.backlog.append((request, arrived_ns))
                    self._schedule_backlog()
                    return
                self.violations += 1
                self.send([enc.error(-1, 100, PACING_TEXT)])
                limit = self.sim.config.pacing_disconnect_after
                if limit and self.violations >= limit:
                    self.close(graceful=True)
                return
            self.tokens -= 1.0
        self._dispatch(request)

    def _schedule_backlog(self) -> None:
        if self.backlog_timer is None and self.state == "ready":
            wait = max(0.0, (1.0 - self.tokens) / self.sim.config.pacing_rate)
            self.backlog_timer = self.sim.loop.call_later(wait, self._drain_backlog)

    def _drain_backlog(self) -> None:
        self.backlog_timer = None
        rate = self.sim.config.pacing_rate
        now = time.monotonic()
        self.tokens = min(rate, self.tokens + (now - self.refilled) * rate) if rate > 0 else float("inf")
        self.refilled = now
        while self.backlog and self.tokens >= 1.0 and self.state == "ready":
            self.tokens -= 1.0
            request, _ = self.backlog.popleft()
            self._dispatch(request)
        if self.backlog:
            self._schedule_backlog()

    def _dispatch(self, request: list[str] | p.PlaceOrder) -> None:
        engine = self.sim.engine
        try:
            if isinstance(request, p.PlaceOrder):
                engine.place_order(self, request)
                self._drop_mid_chain(request)
                return
            fields = request
            try:
                msg_id = int(fields[0])
            except ValueError:
                return  # not a message id at all: TWS ignores it
            handler = _HANDLERS.get(msg_id)
            if handler is not None:
                handler(self, fields)
        except p.RequestError as exc:
            self.send([enc.error(exc.req_id, exc.code, exc.text)])
        except Exception:  # a request must never take the simulator down
            log.exception(
                "request %r from client %s failed",
                request if isinstance(request, p.PlaceOrder) else request[:3],
                self.client_id,
            )
            self.send([enc.error(-1, 320, "Error reading request. Unable to parse data.")])

    def _drop_mid_chain(self, order: p.PlaceOrder) -> None:
        """The drop fault: abort this socket once it has sent the counted placeOrders (the rest is never read)."""
        faults = self.sim.faults
        if faults.drop_after_orders <= 0 or faults.drop_client_id not in (None, self.client_id):
            return
        if faults.drop_held_only and order.transmit:
            return
        faults.drop_after_orders -= 1
        if faults.drop_after_orders == 0:
            log.info("drop fault: closing client %s after placeOrder %s", self.client_id, order.order_id)
            self.close()

    def _req_ids(self, fields: list[str]) -> None:
        self.send([enc.next_valid_id(self.sim.engine.next_valid_id(self.client_id))])

    def _cancel_order(self, fields: list[str]) -> None:
        self.sim.engine.cancel_order(self, p.parse_int(p.field_at(fields, 2)))

    def _req_open_orders(self, fields: list[str]) -> None:
        self.send([*self.sim.engine.open_order_frames(self.client_id), enc.open_order_end()])

    def _req_all_open_orders(self, fields: list[str]) -> None:
        self.send([*self.sim.engine.open_order_frames(None), enc.open_order_end()])

    def _req_global_cancel(self, fields: list[str]) -> None:
        self.sim.engine.global_cancel()

    def _req_positions(self, fields: list[str]) -> None:
        self.positions_subscribed = True
        self.send(self.sim.engine.position_frames())

    def _cancel_positions(self, fields: list[str]) -> None:
        self.positions_subscribed = False

    def _req_account_summary(self, fields: list[str]) -> None:
        req_id = p.parse_int(p.field_at(fields, 2))
        limit = self.sim.config.account_summary_limit
        if req_id in self.account_summaries:
            self.send([enc.error(req_id, 322, "Error processing request:-'bN' : cause - Duplicate ticker id")])
            return
        if limit and len(self.account_summaries) >= limit:
            self.send(
                [
                    enc.error(
                        req_id,
                        322,
                        "Error processing request:-'bN' : cause - Maximum number of account summary requests exceeded",
                    )
                ]
            )
            return
        tags = _summary_tags(p.field_at(fields, 4))
        self.account_summaries[req_id] = tags
        self.send(self.sim.engine.account_summary_frames(req_id, tags))

    def _cancel_account_summary(self, fields: list[str]) -> None:
        self.account_summaries.pop(p.parse_int(p.field_at(fields, 2)), None)

    def _req_executions(self, fields: list[str]) -> None:
        req_id, flt = p.parse_req_executions(fields)
        self.send(self.sim.engine.execution_frames(req_id, flt))

    def _req_mkt_data(self, fields: list[str]) -> None:
        req = p.parse_req_mkt_data(fields)
        market = self.sim.engine.market
        if req.symbol not in market.quotes or req.sec_type not in ("STK", ""):
            self.send([enc.error(req.req_id, 200, "No security definition has been found for the request")])
            return
        if req.req_id in self.market_data:
            self.send([enc.error(req.req_id, 322, "Error processing request:-'bN' : cause - Duplicate ticker id")])
            return
        delayed = self.market_data_type in (3, 4)
        frames: list[bytes] = []
        if not self.sim.config.market_data_subscribed:
            if not delayed:
                self.send([enc.error(req.req_id, 354, "Requested market data is not subscribed.")])
                return
            frames.append(
                enc.error(req.req_id, 10167, "Requested market data is not subscribed. Displaying delayed market data.")
            )
        elif delayed:
            delayed = False  # subscribed accounts get live data whatever type was asked for
        frames.append(enc.market_data_type(req.req_id, 3 if delayed else 1))
        frames += self.sim.tick_frames(req.req_id, market.quotes[req.symbol], delayed)
        if req.snapshot:
            delay = self.sim.config.snapshot_delay
            if delay > 0:
                self.send(frames)
                self.sim.loop.call_later(delay, lambda: self.send([enc.tick_snapshot_end(req.req_id)]))
                return
            frames.append(enc.tick_snapshot_end(req.req_id))
        else:
            self.market_data[req.req_id] = (req.symbol, delayed)
        self.send(frames)

    def _cancel_mkt_data(self, fields: list[str]) -> None:
        self.market_data.pop(p.parse_int(p.field_at(fields, 2)), None)

    def _req_market_data_type(self, fields: list[str]) -> None:
        value = p.parse_int(p.field_at(fields, 2))
        if value in (1, 2, 3, 4):
            self.market_data_type = value

    def _req_current_time(self, fields: list[str]) -> None:
        self.send([enc.current_time(int(time.time()))])

    def _req_managed_accts(self, fields: list[str]) -> None:
        self.send([enc.managed_accounts(self.sim.config.accounts)])

    # -- writing -------------------------------------------------------------------------------

    def send(self, frames: list[bytes]) -> None:
        """Write a batch of frames with one write, after any reply delay and off the 4096 boundary."""
        if self.state in ("closed",) or self.transport is None or not frames:
            return
        if self.batch is not None:
            self.batch += frames
            return
        self._flush(frames[0] if len(frames) == 1 else b"".join(frames))

    def _flush(self, data: bytes) -> None:
        if self.state == "closed":
            return
        faults = self.sim.faults
        if faults.force_4096:
            need = -len(data) % 4096
            data = (stretch(data, need) or data) if need else data
        if faults.reply_delay > 0 or self.delayed:
            self.delayed.append((time.monotonic() + faults.reply_delay, data, 0))
            self._arm_delayed()
            return
        self._emit(data, 0)

    def _emit(self, data: bytes, start: int) -> None:
        """Write ``data`` (its first whole frame at ``start``), moved off the 4096 boundary unless forced."""
        if len(data) % 4096 or not self.sim.config.guard_4096 or self.sim.faults.force_4096:
            self._write(data)
            return
        moved = stretch(data, 1, start)
        if moved is not None:
            self._write(moved)
            return
        cut = split_point(data, start)
        self._write(data[:cut])
        # The tail goes before anything already waiting; it starts with a whole frame unless the cut
        # had to fall inside the last one (then its one byte holds no frame start).
        tail_start = 1 if cut == len(data) - 1 else 0
        self.delayed.appendleft((time.monotonic() + TAIL_DELAY, data[cut:], tail_start))
        self._arm_delayed()

    def _arm_delayed(self) -> None:
        if self.delayed_timer is None and self.delayed:
            wait = max(0.0, self.delayed[0][0] - time.monotonic())
            self.delayed_timer = self.sim.loop.call_later(wait, self._flush_delayed)

    def _flush_delayed(self) -> None:
        self.delayed_timer = None
        now = time.monotonic()
        due: list[tuple[float, bytes, int]] = []
        while self.delayed and self.delayed[0][0] <= now + 0.0005:
            due.append(self.delayed.popleft())
        if due and self.state != "closed":
            # Joined, so writes that leave together are checked against the boundary together.
            self._emit(b"".join(d for _, d, _ in due), due[0][2])
        self._arm_delayed()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.sent_bytes += len(data)
            self.transport.write(data)

    def send_order_messages(self, items: list[tuple[str, bytes]]) -> None:
        """Send order messages, letting the drop/duplicate/reorder status faults act on orderStatus."""
        faults = self.sim.faults
        if not (faults.drop_status or faults.duplicate_status or faults.reorder_status or self.held_status):
            self.send([data for _, data in items])
            return
        out: list[bytes] = []
        for kind, data in items:
            if kind != "orderStatus":
                out.append(data)
                continue
            if faults.drop_status > 0:
                faults.drop_status -= 1
                continue
            if faults.duplicate_status > 0:
                faults.duplicate_status -= 1
                out += [data, data]
                continue
            if self.held_status is not None:
                out += [data, self.held_status]
                self.held_status = None
                continue
            if faults.reorder_status > 0:
                faults.reorder_status -= 1
                self.held_status = data
                self.sim.loop.call_later(0.2, self._release_held)
                continue
            out.append(data)
        self.send(out)

    def _release_held(self) -> None:
        if self.held_status is not None:
            data, self.held_status = self.held_status, None
            self.send([data])

    def close(self, *, graceful: bool = False) -> None:
        """Close this connection (other clients are not affected).

        ``graceful`` first sends what is pending (a 326 or a last error 100); otherwise the socket is
        aborted, as when TWS drops a connection.
        """
        if self.state == "closed":
            return
        batch, self.batch = self.batch, None
        if graceful and batch:
            self._write(b"".join(batch))
        if self.transport is not None:
            if graceful:
                self.transport.close()
            else:
                self.transport.abort()
        self.state = "closed"


def enc_handshake(connection_time: str) -> bytes:
    """The handshake reply: exactly two fields, the server version and the connection time."""
    return frame([str(SERVER_VERSION), connection_time])


def _summary_tags(text: str) -> list[str]:
    """The tags of a reqAccountSummary; ``$LEDGER`` (and ``$LEDGER:...``) stands for every money tag."""
    tags: list[str] = []
    for tag in (t.strip() for t in text.split(",")):
        if tag.startswith("$LEDGER"):
            tags += [t for t in SUMMARY_TAGS if t != "AccountType"]
        elif tag and tag not in tags:
            tags.append(tag)
    return tags


_HANDLERS = {
    p.REQ_IDS: Connection._req_ids,
    p.CANCEL_ORDER: Connection._cancel_order,
    p.REQ_OPEN_ORDERS: Connection._req_open_orders,
    p.REQ_ALL_OPEN_ORDERS: Connection._req_all_open_orders,
    p.REQ_GLOBAL_CANCEL: Connection._req_global_cancel,
    p.REQ_POSITIONS: Connection._req_positions,
    p.CANCEL_POSITIONS: Connection._cancel_positions,
    p.REQ_ACCOUNT_SUMMARY: Connection._req_account_summary,
    p.CANCEL_ACCOUNT_SUMMARY: Connection._cancel_account_summary,
    p.REQ_EXECUTIONS: Connection._req_executions,
    p.REQ_MKT_DATA: Connection._req_mkt_data,
    p.CANCEL_MKT_DATA: Connection._cancel_mkt_data,
    p.REQ_MARKET_DATA_TYPE: Connection._req_market_data_type,
    p.REQ_CURRENT_TIME: Connection._req_current_time,
    p.REQ_MANAGED_ACCTS: Connection._req_managed_accts,
}
