"""A quote as the topics send it: the fields of the worker's ``md.tick``, decimals as strings, ``ts`` in epoch ms."""

from __future__ import annotations

from execution_worker import messages as m

QUOTE_FIELDS = ("bid", "ask", "last", "bid_size", "ask_size", "last_size")


def quote_data(tick: m.MarketData) -> dict:
    """The ``data`` of a ``quotes.update`` (and of a quote snapshot) for ``tick``; a field it lacks is null."""
    fields = tick.data()
    data: dict = {"symbol": tick.symbol}
    for name in QUOTE_FIELDS:
        data[name] = fields.get(name)
    data["ts"] = tick.ts // 1_000_000
    return data
