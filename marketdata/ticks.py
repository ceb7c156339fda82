"""Trades read from the worker's quote ticks (no Django: the bar builder's input).

What the worker sends (``execution_worker.quotes``): every ``tickPrice`` and ``tickSize``
callback XADDs one ``md.tick`` entry holding the symbol's whole quote so far (bid, ask, last and
their sizes), not just the field that changed. ibapi delivers a trade as ``tickPrice(LAST)``
immediately followed by ``tickSize(LAST_SIZE)`` (the simulator's frames carry the size with the
price, and the client splits them the same way), so one trade is two entries in a row: the first
with the new ``last`` and the previous ``last_size``, the second with both new. An entry does not
say which field changed, so the trade rule compares each entry with the one before it:

1. An entry without ``last`` or ``last_size`` is quote only (no trade yet on this stream).
2. ``last`` and ``last_size`` both changed: one trade of ``last_size`` at ``last``.
3. Only ``last`` changed: a trade at ``last`` (its price goes into the bar at once); its size
   is the next entry's ``last_size``, whether that size changed (rule 4) or repeats the one
   before (then the entry is unchanged, and it is counted as that size).
4. Only ``last_size`` changed: a trade of ``last_size`` at ``last`` (the same price as before).
5. Nothing of the two changed (a bid or ask update, or a repeat): no trade.

So TRADES bars take their prices from ``last`` and their volume from ``last_size``. What the
stream cannot show is a trade repeating both the price and the size of the one before: it looks
like a quote update and its volume is missed (the worker would have to mark trades to tell).

Only ``v``, ``type``, ``ts`` and the two trade fields are read: the strict ``messages.decode``
costs ~40-80 µs an entry, most of it parsing the four quote fields the bars never use, which
alone would spend the builder's budget (10,000 ticks/s on one core). The two fields are checked
by the contract's own parser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

import orjson

from execution_worker import messages as m
from execution_worker.messages.fields import parse_non_negative_decimal

# orjson parses a tick's data in a third of the standard library's time: the window reader and the
# bar builder parse every tick they read. Its errors are ValueErrors, as json's are.
_decode_json = orjson.loads


class BadTick(ValueError):
    """A stream entry that is not a readable ``md.tick``; ``code`` is the stable error code."""

    code = "marketdata.bad_tick"


@dataclass(frozen=True, slots=True)
class TickFields:
    """What the builder needs of one entry: producer time (ns) and the raw ``last``/``last_size``."""

    ts: int
    last: object
    last_size: object


def _text(fields: dict, name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        value = fields.get(name.encode())
    if type(value) is bytes:
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise BadTick(f"{name} is not UTF-8") from None
    return value


_ENVELOPE = ("v", "type", "id", "ts", "data")


def quote_envelope(fields: dict) -> tuple[str | None, int, str]:
    """``(id, ts, data)`` of an ``md.tick`` entry of schema version 1: its tick id (None when absent),
    producer time (ns) and the ``data`` text, not yet parsed. Raises ``BadTick`` for anything else.
    """
    get = fields.get
    version, kind, tick_id, ts, data = get("v"), get("type"), get("id"), get("ts"), get("data")
    if type(ts) is not str or type(data) is not str or type(version) is not str or type(kind) is not str:
        # A client that does not decode replies gives bytes, names and values; one read of many
        # ticks passes here for each, so the decoded case above costs five dict lookups only.
        version, kind, tick_id, ts, data = (_text(fields, name) for name in _ENVELOPE)
    elif type(tick_id) is bytes:
        tick_id = _text(fields, "id")
    if version != m.SCHEMA_VERSION:
        raise BadTick("not schema version 1")
    if kind != m.MarketData.TYPE:
        raise BadTick("not an md.tick entry")
    if not ts or not (ts.isdigit() and ts.isascii() and len(ts) <= 20):
        raise BadTick("ts must be integer nanoseconds since the epoch")
    if data is None or len(data) > m.MAX_DATA_BYTES:
        raise BadTick("no data, or data over the size limit")
    return tick_id, int(ts), data


def _object(data: str) -> dict:
    try:
        quote = _decode_json(data)
    except (ValueError, RecursionError):
        raise BadTick("data is not valid JSON") from None
    if type(quote) is not dict:
        raise BadTick("data must be a JSON object")
    return quote


def _quote(fields: dict) -> tuple[int, dict]:
    """``(ts, data)`` of an ``md.tick`` entry of schema version 1; raises ``BadTick`` for anything else."""
    _, ts, data = quote_envelope(fields)
    return ts, _object(data)


def read_tick(fields: dict) -> TickFields:
    """The producer time and trade fields of one ``md.tick`` entry.

    The values of ``last`` and ``last_size`` are returned as written (None when absent);
    ``TradeReader`` checks them when they change. Raises ``BadTick`` for an entry that is not
    an ``md.tick`` of schema version 1 with an integer ``ts`` and a JSON object as ``data``.
    """
    ts, quote = _quote(fields)
    return TickFields(ts, quote.get("last"), quote.get("last_size"))


# The quote fields in the order of the window reader's columns.
QUOTE_FIELDS = ("bid", "ask", "last", "bid_size", "ask_size", "last_size")
_QUOTE_FIELDS = frozenset(QUOTE_FIELDS)


def _quote_fields(data: str) -> tuple[str, dict]:
    """``(symbol, quote fields)`` of an ``md.tick``'s data, values as written; raises ``BadTick``."""
    quote = _object(data)
    symbol = quote.pop("symbol", None)
    if type(symbol) is not str or not symbol or not quote.keys() <= _QUOTE_FIELDS:
        raise BadTick("an md.tick has an id, a symbol and quote fields only")
    return symbol, quote


def read_quote(fields: dict) -> m.MarketData:
    """The whole ``md.tick`` of one entry, for readers of many ticks at once (the window reader).

    The envelope is checked as ``read_tick`` checks it, the quote fields as finite, non-negative
    decimals: a fraction of the strict ``messages.decode``'s cost, which alone would spend the
    window's millisecond on 100 ticks. Raises ``BadTick`` for anything else.
    """
    tick_id, ts, data = quote_envelope(fields)
    if not tick_id:
        raise BadTick("an md.tick has an id, a symbol and quote fields only")
    symbol, fields = _quote_fields(data)
    quote = {}
    for name, value in fields.items():
        if value is None:
            continue
        try:
            number = Decimal(value) if type(value) is str or type(value) is int else None
        except ArithmeticError:
            number = None
        if number is None or not number.is_finite() or number < 0:
            raise BadTick(f"{name} must be a non-negative decimal")
        quote[name] = number
    return m.MarketData(symbol=symbol, id=tick_id, ts=ts, **quote)


_NAN, _INF = math.nan, math.inf


def quote_floats(data: str) -> tuple[float, ...]:
    """The quote fields of an ``md.tick``'s ``data`` text as floats in ``QUOTE_FIELDS`` order, NaN
    where the tick has none yet (the window reader's columns).

    The rules are ``read_quote``'s (finite, non-negative, a decimal string or an integer), except
    that a value too large for a float (over 1.8e308), which ``read_quote`` keeps as a Decimal, is
    refused. Raises ``BadTick``.
    """
    get = _quote_fields(data)[1].get
    row = []
    for name in QUOTE_FIELDS:
        value = get(name)
        if value is None:
            row.append(_NAN)
            continue
        number = -1.0
        if type(value) is str or type(value) is int:
            try:
                number = float(value)
            except (ValueError, OverflowError):
                pass
        if not 0 <= number < _INF:  # also false for NaN
            raise BadTick(f"{name} must be a non-negative decimal")
        row.append(number)
    return tuple(row)


class TradeReader:
    """The trade rule of the module docstring for one symbol's stream, one entry at a time."""

    __slots__ = ("_price", "_size", "last", "pending", "size")

    def __init__(self) -> None:
        self.last: object = None
        self.size: object = None
        self.pending = False
        self._price: Decimal | None = None
        self._size: Decimal | None = None

    def read(self, last: object, size: object) -> tuple[Decimal, Decimal] | None:
        """The trade ``(price, size)`` this entry shows, or None; a price-only entry gives size 0.

        Raises ``BadTick`` when a changed ``last`` or ``last_size`` is not a non-negative
        decimal (or ``last`` is 0); the reader's state is then as it was before the entry.
        """
        if last is None or size is None:
            self.last, self.size, self.pending = last, size, False
            self._price = self._size = None
            return None
        price_changed = last != self.last or self._price is None
        size_changed = size != self.size or self._size is None
        price = _price(last) if price_changed else self._price
        volume = _size(size) if size_changed else self._size
        was_pending = self.pending
        self.last, self.size, self._price, self._size = last, size, price, volume
        if price_changed and not size_changed:
            self.pending = True
            return price, Decimal(0)
        self.pending = False
        if size_changed or was_pending:
            return price, volume
        return None

    def prime(self, last: object, size: object, *, pending: bool = False) -> None:
        """Take ``last``/``last_size`` as the previous entry's without counting a trade (a resume)."""
        self.last, self.size, self.pending = last, size, pending
        try:
            self._price = _price(last) if last is not None else None
            self._size = _size(size) if size is not None else None
        except BadTick:
            self.last = self.size = self._price = self._size = None
            self.pending = False


def _price(value: object) -> Decimal:
    try:
        price = parse_non_negative_decimal("last", value)
    except m.MessageError as exc:
        raise BadTick(str(exc)) from None
    if not price:
        raise BadTick("last must be greater than 0")
    return price


def _size(value: object) -> Decimal:
    try:
        return parse_non_negative_decimal("last_size", value)
    except m.MessageError as exc:
        raise BadTick(str(exc)) from None
