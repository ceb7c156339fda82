"""How long the web side leaves the broker alone after a lookup went unanswered.

A lookup that times out means the marketdata process is down or TWS is not connected; asking
again at once would make every keystroke of a search box, and every watchlist add, wait the
full timeout again. One process-wide quiet period, shared by search and the watchlist.
"""

from __future__ import annotations

import threading
import time

QUIET_SECONDS = 30.0

_lock = threading.Lock()
_until = 0.0


def remaining() -> float:
    """Seconds left before the broker may be asked again (0 when it may be asked now)."""
    return max(0.0, _until - time.monotonic())


def unanswered() -> None:
    """Record that the broker did not answer: leave it alone for ``QUIET_SECONDS``."""
    global _until
    with _lock:
        _until = time.monotonic() + QUIET_SECONDS


def reset() -> None:
    """Ask the broker again on the next lookup (it came back; or between tests)."""
    global _until
    with _lock:
        _until = 0.0
