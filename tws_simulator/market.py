"""The simulated market: quotes that follow each instrument's seeded price path, and their tick frames."""

from __future__ import annotations

import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from tws_simulator import encoder as enc
from tws_simulator.price_path import PricePath

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
    """Quotes for a fixed catalogue; ``step`` puts a quote on its price path at the clock's time.

    The path's level is anchored to the quote: at start the path is scaled to pass through the
    configured price (desks and tests expect to start there), and :meth:`set_price` or a restored
    state re-anchors it, so history (:meth:`path_price`) and live quotes agree at the present and
    share the seeded shape before it. A restart with the state file re-anchors to the last price,
    so the history before it moves only by what the path did while the simulator was down.
    """

    def __init__(
        self,
        instruments: dict[str, float],
        *,
        seed: int,
        min_tick: float,
        volatility_ticks: int,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.quotes: dict[str, Quote] = {}
        # volatility_ticks keeps its old scale: 2 (the default) is the path's own, 0 holds prices.
        self.path = PricePath(instruments, seed=seed, wildness=max(volatility_ticks, 1) / 2)
        self.clock: Callable[[], float] = clock or (lambda: time.time())
        self._scale: dict[str, float] = {}
        self._rngs: dict[str, random.Random] = {}
        self._volatility = max(0, volatility_ticks)
        for symbol, price in instruments.items():
            tick = min_tick
            last = self.round_tick(price, tick)
            self.quotes[symbol] = Quote(
                symbol, con_id_for(symbol), tick, last - tick, last + tick, last, 100, 100, 100, 0
            )
            self._rngs[symbol] = random.Random(f"{seed}:{symbol}")
            self.anchor(symbol)

    def anchor(self, symbol: str) -> None:
        """Scale ``symbol``'s path so it passes through the quote's last price now.

        :raises KeyError: unknown symbol.
        """
        self._scale[symbol] = self.quotes[symbol].last / self.path.price(symbol, self.clock())

    def path_price(self, symbol: str, t: float) -> float:
        """The unrounded price of ``symbol``'s path at epoch second ``t``, at the current anchor.

        :raises KeyError: unknown symbol.
        """
        return self.path.price(symbol, t) * self._scale[symbol]

    @staticmethod
    def round_tick(price: float, tick: float) -> float:
        return round(round(price / tick) * tick, 8)

    def on_tick(self, symbol: str, price: float) -> bool:
        """True when ``price`` is a whole number of ticks of ``symbol``."""
        tick = self.quotes[symbol].min_tick
        return abs(round(price / tick) * tick - price) < 1e-9 * max(1.0, abs(price))

    def step(self, symbol: str) -> Quote:
        """Put one quote on its path at the clock's time (last on the path, the touch around it) and return it.

        With ``volatility_ticks=0`` the price holds; only the sizes move.
        """
        q = self.quotes[symbol]
        rng = self._rngs[symbol]
        tick = q.min_tick
        if self._volatility:
            last = max(tick, self.round_tick(self.path_price(symbol, self.clock()), tick))
            q.last = last
            q.bid = max(tick, self.round_tick(last - rng.randint(0, 1) * tick, tick))
            q.ask = self.round_tick(max(last, q.bid + tick) + rng.randint(0, 1) * tick, tick)
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
        self.anchor(symbol)
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
