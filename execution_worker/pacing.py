"""The one token bucket every outbound TWS message passes through (IB allows about 50 messages/s)."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` banked; ``acquire`` blocks until one is free.

    With capacity C and rate R, no rolling second ever carries more than C + R messages, so the
    defaults (45/s, 2 banked) stay under TWS's 50/s with room for jitter in transit. Thread-safe;
    the wait happens outside the lock.
    """

    def __init__(self, rate: float = 45.0, capacity: float = 4.0, clock=time.monotonic) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("rate must be > 0 and capacity >= 1")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._tokens = capacity
        self._stamp = clock()
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> float:
        """Take a token if one is free and return 0.0; otherwise take nothing and return the wait in s."""
        with self._lock:
            self._refill(self._clock())
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate

    def acquire(self, timeout: float | None = None) -> float:
        """Block until a token is taken; return the seconds spent waiting (the queueing delay).

        :raises TimeoutError: no token within ``timeout`` seconds.
        """
        started = self._clock()
        while True:
            wait = self.try_acquire()
            if wait == 0.0:
                return self._clock() - started
            if timeout is not None and self._clock() - started + wait > timeout:
                raise TimeoutError("no pacing token in time")
            time.sleep(wait)

    def acquire_unit(self, count: int) -> float:
        """Block until a token is free, then take ``count`` at once (the bucket may go below zero);
        return the seconds spent waiting.

        A bracket's messages leave back to back as one unit; the messages after it wait until the
        debt is paid back, so the rate holds and a rolling second carries at most ``count - 1`` more
        than with single messages (2 + 45 + 2 = 49 for a bracket at the defaults, under TWS's 50).
        """
        started = self._clock()
        while True:
            with self._lock:
                self._refill(self._clock())
                if self._tokens >= 1.0:
                    self._tokens -= count
                    return self._clock() - started
                wait = (1.0 - self._tokens) / self.rate
            time.sleep(wait)

    @property
    def tokens(self) -> float:
        """Tokens available now (for the heartbeat)."""
        with self._lock:
            self._refill(self._clock())
            return self._tokens

    def drain(self) -> None:
        """Spend every banked token: after a (re)connect the handshake already used some of the second."""
        with self._lock:
            self._refill(self._clock())
            self._tokens = 0.0
