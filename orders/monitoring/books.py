"""The monitor's FIFO books: kept incrementally from new fills in scaled integers, and a full recompute.

Fills in PostgreSQL are the record; the books here are a cache in the Celery worker process,
rebuilt from scratch whenever the process has none. The FIFO rules are those of ``orders.pnl``
(a fill closes the oldest lots of the opposite sign first, realizing ``(exit - entry) * quantity
* multiplier``; the rest opens a lot); they are computed here in exact scaled integers
(quantities in 1/10,000, prices in 1/1,000,000, as stored) so that 100,000 fills replay in well
under a second (``orders.sql.fill_rows`` reads them). ``orders/tests/test_monitoring_pnl.py``
checks them against ``orders.pnl`` with Hypothesis. Both the incremental and the full path
apply each instrument's fills in (``executed_at``, ``id``) order, so they agree by
construction; the monitoring run compares them every ``MONITOR_FULL_RECOMPUTE_EVERY`` runs
and raises an alert if they ever do not.

New fills are not found by ``id > cursor`` alone: ids are allocated before commit, so a fill
committed late can carry a smaller id than one already seen (the outbox-ordering pitfall). Each
catch-up also lists the ids allocated within the last ``COMMIT_MARGIN`` and applies those it has
not seen; a transaction open longer than the margin would be missed until the next full
recompute, which the monitor runs regularly and alerts on. A fill executed before the last one
applied to its instrument (a late execution report) makes that instrument's lots be replayed
from the database, keeping FIFO order exact.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from orders import pnl, sql
from orders.models import Instrument

ZERO = Decimal("0")
QUANTITY_SCALE = 10**4
PRICE_SCALE = 10**6
MONEY_EXPONENT = -10  # quantity scale x price scale
# How long a fill's transaction may stay open between its id and its commit and still be caught.
COMMIT_MARGIN = timedelta(seconds=10)


@dataclass
class InstrumentBook:
    """Open FIFO lots of one instrument in one account and the PnL they realized (scaled integers).

    ``open`` holds ``[signed quantity, price]`` pairs, oldest first; ``realized_scaled`` is in
    units of 10**-10 of the account currency.
    """

    open: deque = field(default_factory=deque)
    realized_scaled: int = 0
    last_executed: tuple[int, int] | None = None

    @property
    def realized(self) -> Decimal:
        return Decimal(self.realized_scaled).scaleb(MONEY_EXPONENT)

    @property
    def lots(self) -> list[pnl.Lot]:
        return [pnl.Lot(quantity=Decimal(q).scaleb(-4), price=Decimal(p).scaleb(-6)) for q, p in self.open]

    def shape(self) -> tuple:
        return (self.realized_scaled, tuple((q, p) for q, p in self.open))


@dataclass(frozen=True)
class AccountPnL:
    """An account's realized and unrealized PnL, and the instruments without a price."""

    realized: Decimal
    unrealized: Decimal
    unpriced: tuple[int, ...] = ()

    @property
    def total(self) -> Decimal:
        return self.realized + self.unrealized


def apply_fill(book: InstrumentBook, buy: bool, quantity: int, price: int, multiplier: int) -> None:
    """Apply one fill (scaled integers) to ``book`` in place, following ``orders.pnl.apply_fill``."""
    remaining = quantity if buy else -quantity
    lots = book.open
    realized = 0
    while remaining and lots and (lots[0][0] > 0) != (remaining > 0):
        lot = lots[0]
        lot_quantity = lot[0]
        closed = min(abs(lot_quantity), abs(remaining))
        if lot_quantity > 0:
            realized += (price - lot[1]) * closed
            remaining += closed
            lot[0] = lot_quantity - closed
        else:
            realized += (lot[1] - price) * closed
            remaining -= closed
            lot[0] = lot_quantity + closed
        if not lot[0]:
            lots.popleft()
    if remaining:
        lots.append([remaining, price])
    book.realized_scaled += realized * multiplier


def _apply(book: InstrumentBook, row: tuple, multiplier: int) -> None:
    fill_id, _account, _instrument, buy, quantity, price, executed = row
    apply_fill(book, buy, quantity, price, multiplier)
    book.last_executed = (executed, fill_id)


def replay(rows, multipliers: dict[int, int]) -> dict[tuple[int, int], InstrumentBook]:
    """Return the books of ``rows`` (fill tuples from ``fill_rows``, in execution order), from nothing."""
    books: dict[tuple[int, int], InstrumentBook] = defaultdict(InstrumentBook)
    for row in rows:
        _apply(books[(row[1], row[2])], row, multipliers.get(row[2], 1))
    return dict(books)


def fill_rows(*, in_database_order: bool = False, **lookups) -> list[tuple]:
    """Return the fills matching ``lookups`` (see ``orders.sql.fill_rows``) as scaled tuples, in execution order.

    A few rows (a catch-up) are sorted here: ordered by ``executed_at`` in SQL, PostgreSQL may walk
    that index across every fill to find the few above an id. Every fill (a full recompute) is
    sorted by the database, which does it faster than Python.
    """
    rows = sql.fill_rows(in_database_order=in_database_order, **lookups)
    if not in_database_order:
        rows.sort(key=_execution_order)
    return rows


def _execution_order(row: tuple) -> tuple[int, int]:
    return (row[6], row[0])


def _multipliers() -> dict[int, int]:
    return dict(Instrument.objects.values_list("id", "multiplier"))


def full_recompute(account_ids: list[int] | None = None) -> dict[tuple[int, int], InstrumentBook]:
    """Recompute every (account, instrument) book from all fills (of ``account_ids`` when given)."""
    if account_ids is None:
        return replay(fill_rows(in_database_order=True), _multipliers())
    return replay(fill_rows(account_id__in=account_ids, in_database_order=True), _multipliers())


def _scaled_price(price: Decimal | None) -> int | None:
    return None if price is None else int(Decimal(price).scaleb(6).to_integral_value())


def account_pnl(
    books: dict[tuple[int, int], InstrumentBook], prices: dict[int, Decimal | None], multipliers: dict[int, int]
) -> dict[int, AccountPnL]:
    """Return each account's PnL from ``books``, valuing open lots at ``prices`` (instrument → last price)."""
    scaled = {instrument_id: _scaled_price(price) for instrument_id, price in prices.items()}
    realized: dict[int, int] = defaultdict(int)
    unrealized: dict[int, int] = defaultdict(int)
    unpriced: dict[int, list[int]] = defaultdict(list)
    for (account_id, instrument_id), book in books.items():
        realized[account_id] += book.realized_scaled
        if not book.open:
            continue
        price = scaled.get(instrument_id)
        if price is None:
            unpriced[account_id].append(instrument_id)
            continue
        unrealized[account_id] += sum((price - p) * q for q, p in book.open) * multipliers.get(instrument_id, 1)
    return {
        account_id: AccountPnL(
            Decimal(realized[account_id]).scaleb(MONEY_EXPONENT),
            Decimal(unrealized[account_id]).scaleb(MONEY_EXPONENT),
            tuple(unpriced[account_id]),
        )
        for account_id in set(realized) | set(unrealized)
    }


class PnLTracker:
    """Per-process FIFO books of every account, caught up from the fills committed since last time."""

    def __init__(self) -> None:
        self.books: dict[tuple[int, int], InstrumentBook] | None = None
        self.multipliers: dict[int, int] = {}
        self._max_id = 0
        # (when, the largest fill id seen then): a fill with an id at or below the mark of
        # COMMIT_MARGIN ago was allocated before it and cannot still be uncommitted.
        self._marks: deque[tuple[datetime, int]] = deque()
        self._seen: set[int] = set()

    def rebuild(self, *, now: datetime | None = None) -> dict[tuple[int, int], InstrumentBook]:
        """Replace the books by a full recompute from every fill; return them."""
        now = now or timezone.now()
        self.multipliers = _multipliers()
        # The floor is read before the fills: every id at or below it is in the rows below.
        floor = sql.fill_id_floor(created_before=now - COMMIT_MARGIN)
        rows = fill_rows(in_database_order=True)
        self.books = replay(rows, self.multipliers)
        self._max_id = max((row[0] for row in rows), default=0)
        self._marks = deque([(now - COMMIT_MARGIN, floor), (now, self._max_id)])
        # Exactly the rows the recompute used count as seen, so a fill committed meanwhile is
        # picked up by the next catch-up rather than lost.
        self._seen = {row[0] for row in rows if row[0] > floor}
        return self.books

    def _floor(self, now: datetime) -> int:
        limit = now - COMMIT_MARGIN
        while len(self._marks) >= 2 and self._marks[1][0] <= limit:
            self._marks.popleft()
        return self._marks[0][1] if self._marks else 0

    def catch_up(self, *, now: datetime | None = None) -> int:
        """Apply the fills committed since the last catch-up; return how many were applied.

        Reads the fills above the largest id seen, plus (ids only, through the primary key) the
        ids above the mark of ``COMMIT_MARGIN`` ago that were not seen: fills that committed
        after a fill with a larger id. Builds the books from scratch the first time.
        """
        now = now or timezone.now()
        if self.books is None:
            self.rebuild(now=now)
            return 0
        floor = self._floor(now)
        rows = fill_rows(id__gt=self._max_id)
        late = [
            fill_id for fill_id in sql.fill_ids_between(above=floor, up_to=self._max_id) if fill_id not in self._seen
        ]
        if late:
            rows = sorted(rows + fill_rows(id__in=late), key=_execution_order)
        if any(row[2] not in self.multipliers for row in rows):
            self.multipliers = _multipliers()
        replays: set[tuple[int, int]] = set()
        for row in rows:
            key = (row[1], row[2])
            book = self.books.setdefault(key, InstrumentBook())
            if book.last_executed is not None and (row[6], row[0]) < book.last_executed:
                replays.add(key)
            elif key not in replays:
                _apply(book, row, self.multipliers.get(row[2], 1))
            self._seen.add(row[0])
            if row[0] > self._max_id:
                self._max_id = row[0]
        for account_id, instrument_id in replays:
            rows_of_book = fill_rows(account_id=account_id, instrument_id=instrument_id)
            self.books.update(replay(rows_of_book, self.multipliers))
        self._marks.append((now, self._max_id))
        floor = self._floor(now)
        self._seen = {fill_id for fill_id in self._seen if fill_id > floor}
        return len(rows)

    def pnl(self, prices: dict[int, Decimal | None]) -> dict[int, AccountPnL]:
        """Return each account's PnL from the current books at ``prices``."""
        return account_pnl(self.books or {}, prices, self.multipliers)


def books_differ(
    left: dict[tuple[int, int], InstrumentBook], right: dict[tuple[int, int], InstrumentBook]
) -> list[tuple[int, int]]:
    """Return the (account, instrument) keys whose realized PnL or open lots differ between two sets of books."""
    empty = InstrumentBook().shape()

    def shape(book: InstrumentBook | None):
        return empty if book is None else book.shape()

    return sorted(key for key in set(left) | set(right) if shape(left.get(key)) != shape(right.get(key)))
