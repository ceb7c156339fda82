"""Latency windows for the heartbeat: the last N samples of a figure and their percentiles."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class Window:
    """The most recent ``size`` samples (ms) of one figure; ``summary`` gives p50, p99, p99.9 and max.

    ``observe``, when given, also hears every sample (a Prometheus histogram: ``execution_worker.metrics``).
    """

    def __init__(self, size: int = 2048, observe: Callable[[float], None] | None = None) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()
        self._observe = observe

    def add(self, value_ms: float) -> None:
        self._samples.append(value_ms)
        if self._observe is not None:
            self._observe(value_ms)

    def values(self) -> list[float]:
        with self._lock:
            return list(self._samples)

    def summary(self) -> dict[str, float]:
        """Return ``{"p50", "p99", "p999", "max", "n"}`` of the window, or an empty dict when it is empty."""
        samples = sorted(self.values())
        if not samples:
            return {}
        n = len(samples)
        return {
            "p50": round(samples[(n - 1) // 2], 4),
            "p99": round(samples[min(n - 1, int(n * 0.99))], 4),
            "p999": round(samples[min(n - 1, int(n * 0.999))], 4),
            "max": round(samples[-1], 4),
            "n": float(n),
        }
