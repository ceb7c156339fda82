"""Pacing of one client connection: TWS's message rate as a token bucket, and the backlog of paced requests.

A client over the rate is refused with error 100 (``pacing_mode="reject"``), or, when it asked for
``+PACEAPI`` or ``pacing_mode="pace"``, its requests wait in the backlog and run as tokens come back.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from enum import Enum

from tws_simulator.parser import PlaceOrder
from tws_simulator.ports import Host

Request = list[str] | PlaceOrder


class Verdict(Enum):
    """What :meth:`Pacer.admit` decides for a request."""

    NOW = "now"
    QUEUED = "queued"
    REFUSED = "refused"


class Pacer:
    """The token bucket of one connection, on the loop thread."""

    def __init__(self, sim: Host, dispatch: Callable[[Request], None], is_open: Callable[[], bool]) -> None:
        self.sim = sim
        self.dispatch = dispatch
        self.is_open = is_open
        self.pace = sim.config.pacing_mode == "pace"
        self.tokens = float(sim.config.pacing_rate)
        self.refilled = time.monotonic()
        self.violations = 0
        self.backlog: deque[tuple[Request, int]] = deque()
        self.backlog_timer: asyncio.TimerHandle | None = None

    def admit(self, request: Request, arrived_ns: int) -> Verdict:
        """Take a token for ``request``: run it now, queue it (pace mode), or refuse it (one more violation)."""
        rate = self.sim.config.pacing_rate
        if rate > 0:
            now = time.monotonic()
            self.tokens = min(rate, self.tokens + (now - self.refilled) * rate)
            self.refilled = now
            if self.backlog or self.tokens < 1.0:
                if self.pace:
                    self.backlog.append((request, arrived_ns))
                    self._schedule_backlog()
                    return Verdict.QUEUED
                self.violations += 1
                return Verdict.REFUSED
            self.tokens -= 1.0
        return Verdict.NOW

    def cancel(self) -> None:
        """The connection closed: its backlog never runs."""
        if self.backlog_timer:
            self.backlog_timer.cancel()

    def _schedule_backlog(self) -> None:
        if self.backlog_timer is None and self.is_open():
            wait = max(0.0, (1.0 - self.tokens) / self.sim.config.pacing_rate)
            self.backlog_timer = self.sim.loop.call_later(wait, self._drain_backlog)

    def _drain_backlog(self) -> None:
        self.backlog_timer = None
        rate = self.sim.config.pacing_rate
        now = time.monotonic()
        self.tokens = min(rate, self.tokens + (now - self.refilled) * rate) if rate > 0 else float("inf")
        self.refilled = now
        while self.backlog and self.tokens >= 1.0 and self.is_open():
            self.tokens -= 1.0
            request, _ = self.backlog.popleft()
            self.dispatch(request)
        if self.backlog:
            self._schedule_backlog()
