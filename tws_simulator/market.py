"""The simulated market: a seedable random walk of bid/ask/last and sizes per instrument."""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass

from tws_simulator import encoder as enc

TICK_BID, TICK_ASK, TICK_LAST, TICK_VOLUME, TICK_LAST_TIMESTAMP = 1, 2, 4, 8, 45
DELAYED = {TICK_BID: 66, TICK_ASK: 67, TICK_LAST: 68, TICK_VOLUME: 74}


def con_id_for(symbol: str) -> int:
    """A stable, positive conId per symbol (the same on every run and every restart)."""
    return 100_000 + zlib.crc32(symbol.encode()) % 900_000_000


@dataclass(slots=True)
class Quote:
    symbol: str
    con_id: int
    min_tick: float
    bid: float
    ask: float
    last: float
    bid_size: int
    ask_size: int
    last_size: int
    volume: int

    @property
    def mark(self) -> float:
        return self.last


class Market:
    """Quotes for a fixed catalogue; ``step`` moves every quote by a few ticks, deterministically per seed."""

    def __init__(self, instruments: dict[str, float], *, seed: int, min_tick: float, volatility_ticks: int) -> None:
        self.quotes: dict[str, Quote] = {}
        self._rngs: dict[str, random.Random] = {}
        self._volatility = max(0, volatility_ticks)
        for symbol, price in instruments.items():
            tick = min_tick
            last = self.round_tick(price, tick)
            self.quotes[symbol] = Quote(
                symbol, con_id_for(symbol), tick, last - tick, last + tick, last, 100, 100, 100, 0
            )
            self._rngs[symbol] = random.Random(f"{seed}:{symbol}")

    @staticmethod
    def round_tick(price: float, tick: float) -> float:
        return round(round(price / tick) * tick, 8)

    def on_tick(self, symbol: str, price: float) -> bool:
        """True when ``price`` is a whole number of ticks of ``symbol``."""
        tick = self.quotes[symbol].min_tick
        return abs(round(price / tick) * tick - price) < 1e-9 * max(1.0, abs(price))

    def step(self, symbol: str) -> Quote:
        """Move one quote one random-walk step and return it."""
        q = self.quotes[symbol]
        rng = self._rngs[symbol]
        tick = q.min_tick
        move = rng.randint(-self._volatility, self._volatility) * tick
        spread = rng.randint(1, 3) * tick
        bid = max(tick, self.round_tick(q.bid + move, tick))
        q.bid = bid
        q.ask = self.round_tick(bid + spread, tick)
        q.last = q.bid if rng.random() < 0.5 else q.ask
        q.bid_size = rng.randint(1, 20) * 100
        q.ask_size = rng.randint(1, 20) * 100
        q.last_size = rng.randint(1, 10) * 100
        q.volume += q.last_size
        return q

    def set_price(self, symbol: str, price: float, *, bid: float | None = None, ask: float | None = None) -> Quote:
        """Set last to ``price`` and the touch to one tick either side (or to ``bid``/``ask`` when given).

        :raises KeyError: unknown symbol.
        """
        q = self.quotes[symbol]
        tick = q.min_tick
        q.last = self.round_tick(price, tick)
        q.bid = self.round_tick(bid if bid is not None else price - tick, tick)
        q.ask = self.round_tick(ask if ask is not None else price + tick, tick)
        return q


def tick_frames(req_id: int, q: Quote, delayed: bool) -> list[bytes]:
    """BID, ASK and LAST with their sizes, VOLUME and LAST_TIMESTAMP for one subscription."""

    def t(tick: int) -> int:
        return DELAYED[tick] if delayed else tick

    return [
        enc.tick_price(req_id, t(TICK_BID), q.bid, q.bid_size, 1),
        enc.tick_price(req_id, t(TICK_ASK), q.ask, q.ask_size, 1),
        enc.tick_price(req_id, t(TICK_LAST), q.last, q.last_size, 0),
        enc.tick_size(req_id, t(TICK_VOLUME), q.volume),
        enc.tick_string(req_id, TICK_LAST_TIMESTAMP, str(int(time.time()))),
    ]
