"""The write path of one client connection: batching, the reply delay, the status faults and the 4096 guard.

The write path keeps every write off a 4096-byte boundary: ibapi's reader (9.81 and 10.x,
``Connection._recvAllMsg``) recv()s 4096 bytes while a read fills the buffer, and when the next
recv() times out (1 s) it discards what it read, so a burst ending exactly on the boundary is lost.
A write of 4096*k bytes gets one more zero in a float field of one of its messages
(:func:`tws_simulator.wire.stretch`); a burst without such a field leaves in two writes, cut off the
boundary, the second :data:`TAIL_DELAY` later. No message of its own is ever sent for this.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from tws_simulator.ports import Host
from tws_simulator.wire import split_point, stretch

# How long the second part of a cut burst waits: long enough for an idle client to have read the first
# part (so it never sees both as one boundary-ending read), short against ibapi's 1 s read timeout.
TAIL_DELAY = 0.05


class Writer:
    """Writes to one client's transport, on the loop thread; ``closed`` once its connection closed."""

    def __init__(self, sim: Host) -> None:
        self.sim = sim
        self.transport: asyncio.Transport | None = None
        self.closed = False
        # Writes waiting for their time: (due, data, offset of the first whole frame in data).
        self.delayed: deque[tuple[float, bytes, int]] = deque()
        self.delayed_timer: asyncio.TimerHandle | None = None
        self.held_status: bytes | None = None
        self.sent_bytes = 0
        # While a socket read is being handled, replies collect here and leave in one write at its end.
        self.batch: list[bytes] | None = None

    def begin_batch(self) -> None:
        """Collect what is sent from now on, to leave in one write at :meth:`end_batch`."""
        self.batch = []

    def end_batch(self) -> None:
        batch, self.batch = self.batch, None
        if batch:
            self._flush(batch[0] if len(batch) == 1 else b"".join(batch))

    def close(self, *, graceful: bool) -> None:
        """Stop writing; ``graceful`` first writes what the batch holds, and closes rather than aborts."""
        batch, self.batch = self.batch, None
        if graceful and batch:
            self.write(b"".join(batch))
        if self.transport is not None:
            if graceful:
                self.transport.close()
            else:
                self.transport.abort()
        self.closed = True

    def cancel_timers(self) -> None:
        if self.delayed_timer:
            self.delayed_timer.cancel()

    def send(self, frames: list[bytes]) -> None:
        """Write a batch of frames with one write, after any reply delay and off the 4096 boundary."""
        if self.closed or self.transport is None or not frames:
            return
        if self.batch is not None:
            self.batch += frames
            return
        self._flush(frames[0] if len(frames) == 1 else b"".join(frames))

    def _flush(self, data: bytes) -> None:
        if self.closed:
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
            self.write(data)
            return
        moved = stretch(data, 1, start)
        if moved is not None:
            self.write(moved)
            return
        cut = split_point(data, start)
        self.write(data[:cut])
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
        if due and not self.closed:
            # Joined, so writes that leave together are checked against the boundary together.
            self._emit(b"".join(d for _, d, _ in due), due[0][2])
        self._arm_delayed()

    def write(self, data: bytes) -> None:
        """Write ``data`` now, as it is."""
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
