"""The seeded price path: an instrument's price as a pure function of (seed, symbol, time).

Why a function of time and not a random walk stepped by a timer: history must be answerable for
any past window without replaying every step since start, and the live ticks must land on the
same curve as the bars that cover them. The path is a sum of value-noise octaves (hashed values
on a grid per octave, linearly interpolated), with amplitudes growing with the square root of the
period, so it looks like a random walk from seconds to months and costs a few hash mixes per
sample whatever the time asked for.
"""

from __future__ import annotations

import math
import zlib
from functools import lru_cache

# (period in seconds, relative amplitude): about 1% a day, a few ticks over seconds.
_DAILY_VOLATILITY = 0.01
_PERIODS = (5, 30, 120, 600, 3_600, 6 * 3_600, 86_400, 5 * 86_400, 20 * 86_400, 90 * 86_400, 365 * 86_400)
OCTAVES = tuple((p, _DAILY_VOLATILITY * math.sqrt(p / 86_400)) for p in _PERIODS)
_MASK = (1 << 64) - 1


def mix(x: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of ``x``."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


@lru_cache(maxsize=1 << 16)
def _node(salt: int, cell: int) -> float:
    """The noise value in [-1, 1] at grid ``cell`` of one octave (cached: neighbouring samples share cells)."""
    return mix(salt ^ (cell & 0xFFFFFFFFFF)) / _MASK * 2.0 - 1.0


class PricePath:
    """Prices of a catalogue along seeded paths; ``price(symbol, t)`` is the same on every run for the seed."""

    def __init__(self, instruments: dict[str, float], *, seed: int, wildness: float = 1.0) -> None:
        """``wildness`` multiplies the amplitude of the octaves up to an hour (the intraday jitter); the
        longer ones keep about 1% a day, so a wild path stays near its level over weeks."""
        self.base = dict(instruments)
        self._octaves = {
            s: tuple(
                (
                    1.0 / period,
                    amplitude * (wildness if period <= 3_600 else 1.0),
                    (zlib.crc32(f"{seed}:{s}".encode()) << 16) ^ (octave << 56),
                )
                for octave, (period, amplitude) in enumerate(OCTAVES)
            )
            for s in instruments
        }

    def noise(self, symbol: str, t: float) -> float:
        """The log-deviation of ``symbol`` from its base price at epoch second ``t``.

        :raises KeyError: unknown symbol.
        """
        total = 0.0
        for inverse_period, amplitude, salt in self._octaves[symbol]:
            x = t * inverse_period
            cell = math.floor(x)
            a = _node(salt, cell)
            total += amplitude * (a + (_node(salt, cell + 1) - a) * (x - cell))
        return total

    def price(self, symbol: str, t: float) -> float:
        """The unrounded price of ``symbol`` at epoch second ``t`` (always positive).

        :raises KeyError: unknown symbol.
        """
        return self.base[symbol] * math.exp(self.noise(symbol, t))
