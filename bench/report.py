"""Figures and their goals, printed one line each, and the percentiles they are made of."""

from __future__ import annotations

import math
from dataclasses import dataclass


def percentile(samples: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``samples`` (``fraction`` in 0..1).

    :raises ValueError: no samples.
    """
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Figure:
    """One measured figure and its goal: ``ok`` when ``value`` is on the right side of ``goal``."""

    name: str
    value: float
    unit: str
    goal: float | None = None
    higher_is_better: bool = False

    @property
    def ok(self) -> bool:
        if self.goal is None:
            return True
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def line(self) -> str:
        if self.goal is None:
            return f"{self.name}: {self.value:.3f} {self.unit}"
        sign = ">=" if self.higher_is_better else "<="
        verdict = "OK" if self.ok else "MISSED"
        return f"{self.name}: {self.value:.3f} {self.unit} (goal {sign} {self.goal:g} {self.unit}) {verdict}"


def latency_figures(name: str, samples_ms: list[float], goals: dict[str, float]) -> list[Figure]:
    """Return p50, p99, p99.9 and max figures of ``samples_ms``, each with its goal when given."""
    points = {"p50": 0.50, "p99": 0.99, "p99.9": 0.999}
    figures = [
        Figure(f"{name} {label}", percentile(samples_ms, q), "ms", goals.get(label)) for label, q in points.items()
    ]
    figures.append(Figure(f"{name} max", max(samples_ms), "ms", goals.get("max")))
    return figures
