"""Every Redis key of market data, derived from the stream prefix (no Django: the builder,
the window reader and the strategy engine share it).

- ``{prefix}:md:{symbol}``: the worker's tick stream of one symbol (``md.tick`` entries, capped).
- ``{prefix}:bars:{symbol}:{resolution}``: closed bars, newest first, a window of configurable size.
- ``{prefix}:bars:{symbol}:{resolution}:forming``: the bar being built (one JSON string).
- ``{prefix}:bars:updates``: every change of a bar, forming or closed, in order (a capped stream the
  live topics read).
- ``{prefix}:bars:closed``: every closed bar once it is stored, in order (a capped stream the strategy
  runner reads).
- ``{prefix}:marketdata:ticks-read``: a hash, symbol → the last tick entry id the builder applied.
- ``{prefix}:md:wanted``: a set of the symbols the desk wants quotes of (watchlists, charts).
- ``{prefix}:marketdata:lookups``: contract lookups asked of the marketdata process's broker loop.
- ``{prefix}:marketdata:reply:{token}``: the answer to one lookup (a list of one item, short-lived).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MarketKeys:
    """The market-data keys under one prefix (``TRADECONSOLE_STREAM_PREFIX``)."""

    prefix: str = "tc"

    def ticks(self, symbol: str) -> str:
        return f"{self.prefix}:md:{symbol}"

    @property
    def ticks_pattern(self) -> str:
        return f"{self.prefix}:md:*"

    def closed_bars(self, symbol: str, resolution: str) -> str:
        return f"{self.prefix}:bars:{symbol}:{resolution}"

    def forming_bar(self, symbol: str, resolution: str) -> str:
        return f"{self.prefix}:bars:{symbol}:{resolution}:forming"

    @property
    def bar_updates(self) -> str:
        return f"{self.prefix}:bars:updates"

    @property
    def closed_bar_events(self) -> str:
        return f"{self.prefix}:bars:closed"

    @property
    def ticks_read(self) -> str:
        return f"{self.prefix}:marketdata:ticks-read"

    @property
    def wanted_symbols(self) -> str:
        # The worker reads this set under its own name for it (StreamNames.md_wanted); a test keeps them equal.
        return f"{self.prefix}:md:wanted"

    @property
    def lookups(self) -> str:
        return f"{self.prefix}:marketdata:lookups"

    def lookup_reply(self, token: str) -> str:
        return f"{self.prefix}:marketdata:reply:{token}"
