"""Quotes: TWS's price and size ticks as market-data entries on ``{prefix}:md:{SYMBOL}``.

The last price also feeds the gate's price collar. Run by ibapi's thread; mixed into
``worker.Worker`` through ``CallbackMixin``.
"""

from __future__ import annotations

from decimal import Decimal

from execution_worker import messages as m
from execution_worker.ib_values import ib_decimal

TICK_FIELDS = {1: "bid", 2: "ask", 4: "last", 66: "bid", 67: "ask", 68: "last"}
SIZE_FIELDS = {0: "bid_size", 3: "ask_size", 5: "last_size", 69: "bid_size", 70: "ask_size", 71: "last_size"}


class QuoteCallbacks:
    """``on_tickPrice`` and ``on_tickSize``."""

    def on_tickPrice(self, generation: int, req_id: int, tick_type: int, price: float, attrib) -> None:
        field = TICK_FIELDS.get(tick_type)
        symbol = self._md_by_req.get(req_id)
        if field is None or symbol is None or price <= 0:
            return
        value = ib_decimal(price)
        if field == "last":
            self.gate.set_last_price(symbol, value)
        self._md(symbol, field, value)

    def on_tickSize(self, generation: int, req_id: int, tick_type: int, size: int) -> None:
        field = SIZE_FIELDS.get(tick_type)
        symbol = self._md_by_req.get(req_id)
        if field is None or symbol is None:
            return
        self._md(symbol, field, Decimal(int(size)))

    def _md(self, symbol: str, field: str, value: Decimal) -> None:
        quote = self._quotes.setdefault(symbol, {})
        quote[field] = value
        self.emit(m.MarketData(symbol=symbol, **quote), stream=self.names.md(symbol), maxlen=self.config.md_maxlen)
