"""Sliding windows for code: the last N ticks or bars of a symbol, read from Redis in one round trip.

Strategies and the monitor use this; no Django here (the runner and the strategy engine share it).
Every reader returns the oldest first, the way an indicator consumes a series, in one of two shapes:
records (``last_ticks``, ``last_bars``: a ``Tick`` or ``BarRecord`` per item, Decimal values) for
code that shows or books prices, and columns (``tick_columns``, ``bar_columns``: one numpy array
per field, floats) for code that computes on them. A reader remembers the rows of its columns it
has parsed, so a window read again as it slides parses only what is new: a third of the records'
time for ticks, a fifth for bars (bench ``sliding_window``). A tick window read again also asks
Redis only for the entries after the last one it read, with a check that the oldest entry it
keeps is still there (one round trip either way): a stream deleted, written anew or trimmed past
the window is read whole again. Tick streams only grow at the end and are trimmed from the start
(the worker never deletes an entry in between), so what passes the check is what a whole read
would give.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import redis

from execution_worker import messages as m
from marketdata import bars
from marketdata.keys import MarketKeys
from marketdata.resolutions import parse as parse_resolution
from marketdata.ticks import QUOTE_FIELDS, BadTick, quote_envelope, quote_floats, read_quote

MAX_WINDOW = 10_000

# The quotes and bars a reader has turned into floats, by their text: a sliding window reads the
# same entries again on every read, and a text always reads the same, so what the last read parsed
# is not parsed again. Each is kept packed (48 or 49 bytes), so that a window's rows join into one
# buffer numpy reads at once; a memo is cleared when this full (a few MB), which costs the next
# read its parsing only.
MEMO_SIZE = 20_000
# Tick entries kept for sliding reads (about 150 bytes each), over every stream a reader reads; all
# are forgotten when a read would keep more, which costs the next read of each window a whole read.
WINDOW_ITEMS_KEPT = 200_000
_QUOTE_ROW = struct.Struct(f"<{len(QUOTE_FIELDS)}d")
_BAR_ROW = struct.Struct("<q5d?")
_BAR_DTYPE = np.dtype([("time", "<i8"), *((name, "<f8") for name in bars.PRICE_FIELDS), ("closed", "?")])


class BadWindow(ValueError):
    """A window that cannot be read as asked; ``code`` is the stable error code."""

    code = "marketdata.bad_window"


@dataclass(frozen=True, slots=True)
class Tick:
    """One quote update of a symbol: the stream entry id, the producer time (ns), the quote fields."""

    entry_id: str
    ts: int
    quote: m.MarketData


@dataclass(frozen=True, slots=True)
class TickColumns:
    """The ticks of a window as columns, oldest first: the stream entry ids, the producer times (ns,
    int64) and one float64 array per quote field, NaN where a tick has no such field yet."""

    symbol: str
    entry_ids: list[str]
    ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    last: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    last_size: np.ndarray

    def __len__(self) -> int:
        return len(self.entry_ids)


@dataclass(frozen=True, slots=True)
class BarColumns:
    """The bars of a window as columns, oldest first: start times (s, int64), float64 prices and
    volume, and whether each bar is closed (only a forming bar, last, is not)."""

    symbol: str
    resolution: str
    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    closed: np.ndarray

    def __len__(self) -> int:
        return len(self.time)


class Windows:
    """Reads the recent ticks and bars of any symbol under one stream prefix."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.keys = MarketKeys(prefix)
        self._quote_rows: dict[str, bytes] = {}
        self._bar_rows: dict[str, bytes] = {}
        # stream key -> the entries of its last tick window, oldest first: (entry id, ts, packed
        # row; b"" for an entry skipped), and whether that read reached the stream's start.
        self._tick_windows: dict[str, tuple[list[tuple[str, int, bytes]], bool]] = {}
        self._window_items = 0

    def last_ticks(self, symbol: str, count: int) -> list[Tick]:
        """The last ``count`` ticks of ``symbol`` (fewer when the stream holds fewer), oldest first.

        Raises ``BadWindow`` for a count outside 1..MAX_WINDOW. An entry that does not decode is
        skipped: the stream is the worker's, and one bad entry must not blind a strategy.
        """
        ticks = []
        for entry_id, fields in self._tick_entries(symbol, count):
            try:
                message = read_quote(fields)
            except BadTick:
                continue
            ticks.append(Tick(_text(entry_id), message.ts, message))
        return ticks

    def tick_columns(self, symbol: str, count: int) -> TickColumns:
        """The ticks ``last_ticks`` reads, as columns of floats.

        The same entries are skipped, and one more kind: a quote value over 1.8e308, which no float
        holds. Raises ``BadWindow`` for a count outside 1..MAX_WINDOW.
        """
        _check(count)
        symbol = symbol.upper()
        key = self.keys.ticks(symbol)
        window = self._slid_window(key, count)
        if window is None:
            window = [self._tick_item(entry_id, fields) for entry_id, fields in self._tick_entries(symbol, count)]
            whole = len(window) < count
        else:
            whole = self._tick_windows[key][1] and len(window) < count
        before = self._tick_windows.get(key)
        self._window_items += len(window) - (len(before[0]) if before else 0)
        if self._window_items > WINDOW_ITEMS_KEPT:
            self._tick_windows.clear()
            self._window_items = len(window)
        self._tick_windows[key] = (window, whole)
        kept = [item for item in window if item[2]]
        # The rows as one array, then one contiguous array per field (TA-Lib wants them so).
        fields = np.frombuffer(b"".join(item[2] for item in kept), dtype="<f8")
        fields = fields.reshape(len(kept), len(QUOTE_FIELDS)).T.copy()
        times = np.array([item[1] for item in kept], dtype=np.int64)
        return TickColumns(symbol, [item[0] for item in kept], times, *fields)

    def _slid_window(self, key: str, count: int) -> list[tuple[str, int, bytes]] | None:
        """The last ``count`` entries of ``key`` from the window read before and the entries after
        it, in one round trip; None (read it whole) when there is no such window, it holds too few
        entries, its oldest entry still in the window is gone from the stream, or ``count`` or more
        entries came after it."""
        seen = self._tick_windows.get(key)
        if seen is None:
            return None
        items, whole = seen
        if not items or (len(items) < count and not whole):
            return None
        oldest = items[-count][0] if len(items) >= count else items[0][0]
        pipe = self.client.pipeline(transaction=False)
        pipe.xrange(key, "(" + items[-1][0], "+", count=count)
        pipe.xrange(key, oldest, oldest, count=1)
        newer, still_there = pipe.execute()
        if not still_there or len(newer) >= count:
            # Gone, or a whole window's worth came (XRANGE gave the oldest of them): read it whole.
            return None
        window = items[-count:] + [self._tick_item(entry_id, fields) for entry_id, fields in newer]
        return window[-count:]

    def _tick_item(self, entry_id, fields: dict) -> tuple[str, int, bytes]:
        """``(entry id, ts, packed quote row)`` of one stream entry; row b"" when it is skipped."""
        entry_id = entry_id if type(entry_id) is str else entry_id.decode()
        try:
            tick_id, ts, data = quote_envelope(fields)
        except BadTick:
            return entry_id, 0, b""
        known = self._quote_rows
        row = known.get(data)
        if row is None:
            try:
                row = _QUOTE_ROW.pack(*quote_floats(data))
            except BadTick:
                row = b""  # remembered as bad, skipped
            _remember(known, data, row)
        return entry_id, ts, row if tick_id else b""

    def last_bars(self, symbol: str, resolution: str, count: int, *, forming: bool = False) -> list[bars.BarRecord]:
        """The last ``count`` closed bars of ``symbol`` at ``resolution``, oldest first.

        With ``forming=True`` the bar being built comes last, after the closed ones (when there is
        one). Raises ``BadWindow`` for a bad count, ``resolutions.BadResolution`` for an unknown
        resolution and ``bars.BadBar`` when a bar in Redis does not decode.
        """
        _, _, raws = self._bar_window(symbol, resolution, count, forming)
        return [bars.decode(raw) for raw in raws]

    def bar_columns(self, symbol: str, resolution: str, count: int, *, forming: bool = False) -> BarColumns:
        """The bars ``last_bars`` reads, as columns of floats, with the same errors (``bars.BadBar``
        also for a value no float holds)."""
        symbol, code, raws = self._bar_window(symbol, resolution, count, forming)
        known = self._bar_rows
        rows = []
        for raw in raws:
            row = known.get(raw)
            if row is None:
                row = _BAR_ROW.pack(*bars.decode_row(raw))
                _remember(known, raw, row)
            rows.append(row)
        table = np.frombuffer(b"".join(rows), dtype=_BAR_DTYPE)
        return BarColumns(symbol, code, *(table[name].copy() for name in _BAR_DTYPE.names))

    def _tick_entries(self, symbol: str, count: int) -> list:
        _check(count)
        entries = self.client.xrevrange(self.keys.ticks(symbol.upper()), count=count)
        entries.reverse()
        return entries

    def _bar_window(self, symbol: str, resolution: str, count: int, forming: bool) -> tuple[str, str, list]:
        """``(symbol, resolution code, the encoded bars oldest first)``, read in one round trip."""
        _check(count)
        code = parse_resolution(resolution).code
        symbol = symbol.upper()
        pipe = self.client.pipeline(transaction=False)
        pipe.lrange(self.keys.closed_bars(symbol, code), 0, count - 1)
        if forming:
            pipe.get(self.keys.forming_bar(symbol, code))
        replies = pipe.execute()
        raws = replies[0]
        raws.reverse()
        if forming and replies[1]:
            raws.append(replies[1])
        return symbol, code, raws


def _remember(memo: dict, text: str, row: bytes) -> None:
    if len(memo) >= MEMO_SIZE:
        memo.clear()
    memo[text] = row


def _check(count: int) -> None:
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_WINDOW:
        raise BadWindow(f"A window holds 1 to {MAX_WINDOW} items, not {count!r}.")


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
