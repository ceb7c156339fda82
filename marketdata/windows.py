"""Sliding windows for code: the last N ticks or bars of a symbol, read from Redis in one round trip.

Strategies and the monitor use this; no Django here (the runner and the strategy engine share it).
Both readers return the oldest first, the way an indicator consumes a series.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from execution_worker import messages as m
from marketdata import bars
from marketdata.keys import MarketKeys
from marketdata.resolutions import parse as parse_resolution
from marketdata.ticks import BadTick, read_quote

MAX_WINDOW = 10_000


class BadWindow(ValueError):
    """A window that cannot be read as asked; ``code`` is the stable error code."""

    code = "marketdata.bad_window"


@dataclass(frozen=True, slots=True)
class Tick:
    """One quote update of a symbol: the stream entry id, the producer time (ns), the quote fields."""

    entry_id: str
    ts: int
    quote: m.MarketData


class Windows:
    """Reads the recent ticks and bars of any symbol under one stream prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = MarketKeys(prefix)

    def last_ticks(self, symbol: str, count: int) -> list[Tick]:
        """The last ``count`` ticks of ``symbol`` (fewer when the stream holds fewer), oldest first.

        Raises ``BadWindow`` for a count outside 1..MAX_WINDOW. An entry that does not decode is
        skipped: the stream is the worker's, and one bad entry must not blind a strategy.
        """
        _check(count)
        entries = self.client.xrevrange(self.keys.ticks(symbol.upper()), count=count)
        ticks = []
        for entry_id, fields in reversed(entries):
            try:
                message = read_quote(fields)
            except BadTick:
                continue
            ticks.append(Tick(_text(entry_id), message.ts, message))
        return ticks

    def last_bars(self, symbol: str, resolution: str, count: int, *, forming: bool = False) -> list[bars.BarRecord]:
        """The last ``count`` closed bars of ``symbol`` at ``resolution``, oldest first.

        With ``forming=True`` the bar being built comes last, after the closed ones (when there is
        one). Raises ``BadWindow`` for a bad count and ``resolutions.BadResolution`` for an unknown
        resolution.
        """
        _check(count)
        code = parse_resolution(resolution).code
        symbol = symbol.upper()
        pipe = self.client.pipeline(transaction=False)
        pipe.lrange(self.keys.closed_bars(symbol, code), 0, count - 1)
        if forming:
            pipe.get(self.keys.forming_bar(symbol, code))
        replies = pipe.execute()
        window = [bars.decode(raw) for raw in reversed(replies[0])]
        if forming and replies[1]:
            window.append(bars.decode(replies[1]))
        return window


def _check(count: int) -> None:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_WINDOW:
        raise BadWindow(f"A window holds 1 to {MAX_WINDOW} items, not {count!r}.")


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
