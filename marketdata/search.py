"""Symbol search for charts and the watchlist: the desk's instruments first, then the broker's matches.

The broker is asked only when the desk has no instrument of exactly the query, with a short
timeout, and fails soft: an unanswered lookup leaves the desk's own results, and the broker is
not asked again for a while (``marketdata.broker_quiet``).
"""

from __future__ import annotations

from marketdata import broker_quiet, lookups
from marketdata.selectors import SYMBOL_TYPE, instrument_search, search_result

BROKER_TIMEOUT = 1.0
# Stocks only: the desk trades US stocks; a match with no type is taken as one.
_STOCK_TYPES = ("STK", "")


def symbol_search(*, query: str, type: str = "", exchange: str = "", limit: int = 30) -> list[dict]:
    """Up to ``limit`` UDF search results for ``query`` (of ``type`` "stock", on ``exchange`` when
    given): the desk's active instruments, then the broker's matching contracts it does not hold.

    Never raises for the broker: a lookup that fails or times out only leaves its results out.
    """
    if type and type != SYMBOL_TYPE:
        return []
    results = instrument_search(query=query, exchange=exchange, limit=limit)
    text = query.strip().upper()
    if not text or len(results) >= limit or any(r["symbol"] == text for r in results):
        return results
    seen = {r["symbol"] for r in results}
    for match in _broker_matches(text):
        if match.sec_type.upper() not in _STOCK_TYPES or match.symbol in seen:
            continue
        if exchange and match.primary_exchange.upper() != exchange.upper():
            continue
        seen.add(match.symbol)
        results.append(search_result(match.symbol, match.primary_exchange, match.description))
        if len(results) >= limit:
            break
    return results


def _broker_matches(pattern: str) -> list[lookups.SymbolMatch]:
    if broker_quiet.remaining():
        return []
    try:
        return lookups.matching_symbols(pattern, timeout=BROKER_TIMEOUT)
    except lookups.BadSymbol:
        return []
    except lookups.BrokerUnavailable:
        broker_quiet.unanswered()
        return []
