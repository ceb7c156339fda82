"""IB's pacing rules for historical data, kept on our side so that TWS never answers error 162.

The rules (IB, "Historical Data Limitations"): no more than 60 requests in any 10 minutes; no
identical request within 15 seconds; no six or more requests for the same contract, exchange and
tick type within 2 seconds. After a 162 all history waits for a back-off that doubles on each
violation in a row. The clock is injected, so the rules are tested on a pinned clock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PacingRules:
    """The limits, in requests and seconds (IB's published values by default)."""

    per_window: int = 60
    window: float = 600.0
    identical_gap: float = 15.0
    per_burst: int = 5
    burst_window: float = 2.0
    first_back_off: float = 30.0
    max_back_off: float = 600.0
    # TWS times a request when it reads it; one that took longer to arrive than a later one
    # would make the later look early. Every window is kept this much longer.
    margin: float = 0.5


class HistoryPacing:
    """Decides when the next historical request may be sent; owned by the broker loop's thread.

    ``request`` identifies a request (contract, end, duration, bar size, what to show, RTH);
    ``contract`` the contract, exchange and tick type that the 2-second rule counts together.
    """

    def __init__(self, rules: PacingRules | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = rules or PacingRules()
        self.clock = clock
        self._sent: deque[float] = deque()
        self._last_identical: dict[Hashable, float] = {}
        self._by_contract: dict[Hashable, deque[float]] = {}
        self._blocked_until = 0.0
        self._back_off = 0.0

    def delay(self, request: Hashable, contract: Hashable) -> float:
        """Seconds to wait before ``request`` may be sent (0.0: now)."""
        now = self.clock()
        self._forget(now)
        rules = self.rules
        waits = [self._blocked_until - now]
        margin = rules.margin
        if len(self._sent) >= rules.per_window:
            waits.append(self._sent[-rules.per_window] + rules.window + margin - now)
        last = self._last_identical.get(request)
        if last is not None:
            waits.append(last + rules.identical_gap + margin - now)
        recent = self._by_contract.get(contract)
        if recent is not None and len(recent) >= rules.per_burst:
            waits.append(recent[-rules.per_burst] + rules.burst_window + margin - now)
        return max(0.0, *waits)

    def record(self, request: Hashable, contract: Hashable) -> None:
        """Count ``request`` as sent now (call it right before the send)."""
        now = self.clock()
        self._sent.append(now)
        self._last_identical[request] = now
        self._by_contract.setdefault(contract, deque()).append(now)

    def answered(self) -> None:
        """A request was answered without a violation: the next 162 starts the back-off afresh."""
        self._back_off = 0.0

    def violated(self) -> float:
        """TWS answered 162: hold every request for a back-off (doubling while it repeats); returns it."""
        rules = self.rules
        self._back_off = min(rules.max_back_off, max(rules.first_back_off, self._back_off * 2))
        self._blocked_until = self.clock() + self._back_off
        return self._back_off

    def _forget(self, now: float) -> None:
        rules = self.rules
        margin = rules.margin
        while self._sent and self._sent[0] <= now - rules.window - margin:
            self._sent.popleft()
        for key, at in list(self._last_identical.items()):
            if at <= now - rules.identical_gap - margin:
                del self._last_identical[key]
        for key, times in list(self._by_contract.items()):
            while times and times[0] <= now - rules.burst_window - margin:
                times.popleft()
            if not times:
                del self._by_contract[key]
