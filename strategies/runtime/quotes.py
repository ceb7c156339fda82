"""The live quotes a forward test fills at: each symbol's newest tick, if fresh. No Django here."""

from __future__ import annotations

import time

from marketdata import ticks
from marketdata.keys import MarketKeys

# A quote older than this is not the market now: the decision fills at the next bar's open instead.
QUOTE_FRESH_NS = 5_000_000_000


def live_quotes(client, keys: MarketKeys, symbols: set[str]) -> dict[str, tuple[float, float]]:
    """The fresh (bid, ask) of each of ``symbols`` that has one, read in one round trip.

    A symbol without ticks, with a tick that does not read, an old one, or a crossed or one-sided
    quote is left out.
    """
    if not symbols:
        return {}
    ordered = sorted(symbols)
    pipe = client.pipeline(transaction=False)
    for symbol in ordered:
        pipe.xrevrange(keys.ticks(symbol), count=1)
    now_ns = time.time_ns()
    quotes = {}
    for symbol, reply in zip(ordered, pipe.execute(), strict=True):
        if not reply:
            continue
        try:
            quote = ticks.read_quote(reply[0][1])
        except ticks.BadTick:
            continue
        if now_ns - quote.ts > QUOTE_FRESH_NS or quote.bid is None or quote.ask is None:
            continue
        if 0 < quote.bid <= quote.ask:
            quotes[symbol] = (float(quote.bid), float(quote.ask))
    return quotes
