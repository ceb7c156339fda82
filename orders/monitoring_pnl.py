"""The monitoring loop's PnL: FIFO books kept incrementally from new fills, and a full recompute.

Fills in PostgreSQL are the record; the books here are a cache in the Celery worker process,
rebuilt from scratch whenever the process has none. Both paths use ``orders.pnl`` and apply
each instrument's fills in (``executed_at``, ``id``) order, so they agree by construction; the
monitoring run compares them every ``MONITOR_FULL_RECOMPUTE_EVERY`` runs and raises an alert
if they ever do not.

New fills are not found by ``id > cursor`` alone: ids are allocated before commit, so a fill
committed late can carry a smaller id than one already seen (the outbox-ordering pitfall). Each
catch-up also lists the ids of the last ``COMMIT_MARGIN`` of allocation and applies those it has
not seen; a transaction open longer than the margin would be missed until the next full
recompute, which the monitor runs regularly and alerts on.
A fill executed before the last one applied to its instrument (a late execution report) makes
that instrument's lots be replayed from the database, keeping FIFO order exact.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from orders import pnl
from orders.models import Fill, Instrument

ZERO = Decimal("0")
# How far back each catch-up looks for fills committed after the previous one started.
COMMIT_MARGIN = timedelta(seconds=30)
_FILL_FIELDS = ("id", "account_id", "instrument_id", "side", "quantity", "price", "executed_at", "created_at")


@dataclass
class InstrumentBook:
    """Open FIFO lots of one instrument in one account and the PnL they realized."""

    lots: list[pnl.Lot] = field(default_factory=list)
    realized: Decimal = ZERO
    last_executed: tuple[datetime, int] | None = None


@dataclass(frozen=True)
class AccountPnL:
    """An account's realized and unrealized PnL, and the instruments without a price."""

    realized: Decimal
    unrealized: Decimal
    unpriced: tuple[int, ...] = ()

    @property
    def total(self) -> Decimal:
        return self.realized + self.unrealized


def _apply(book: InstrumentBook, row: tuple, multiplier: int) -> None:
    fill_id, _account, _instrument, side, quantity, price, executed_at, _created = row
    book.lots, gained = pnl.apply_fill(
        book.lots, side=side, quantity=quantity, price=price, multiplier=multiplier, ref=fill_id, at=executed_at
    )
    book.realized += gained
    book.last_executed = (executed_at, fill_id)


def replay(rows, multipliers: dict[int, int]) -> dict[tuple[int, int], InstrumentBook]:
    """Return the books of ``rows`` (fill tuples in ``_FILL_FIELDS`` order), replayed from nothing."""
    books: dict[tuple[int, int], InstrumentBook] = defaultdict(InstrumentBook)
    for row in sorted(rows, key=lambda r: (r[6], r[0])):
        _apply(books[(row[1], row[2])], row, multipliers.get(row[2], 1))
    return dict(books)


def _fill_rows(**filters):
    return list(Fill.objects.filter(**filters).order_by("executed_at", "id").values_list(*_FILL_FIELDS))


def full_recompute(account_ids: list[int] | None = None) -> dict[tuple[int, int], InstrumentBook]:
    """Recompute every (account, instrument) book from all fills (of ``account_ids`` when given)."""
    filters = {"account_id__in": account_ids} if account_ids is not None else {}
    return replay(_fill_rows(**filters), _multipliers())


def _multipliers() -> dict[int, int]:
    return dict(Instrument.objects.values_list("id", "multiplier"))


def account_pnl(
    books: dict[tuple[int, int], InstrumentBook], prices: dict[int, Decimal | None], multipliers: dict[int, int]
) -> dict[int, AccountPnL]:
    """Return each account's PnL from ``books``, valuing open lots at ``prices`` (instrument → last price)."""
    realized: dict[int, Decimal] = defaultdict(lambda: ZERO)
    unrealized: dict[int, Decimal] = defaultdict(lambda: ZERO)
    unpriced: dict[int, list[int]] = defaultdict(list)
    for (account_id, instrument_id), book in books.items():
        realized[account_id] += book.realized
        if not book.lots:
            continue
        price = prices.get(instrument_id)
        if price is None:
            unpriced[account_id].append(instrument_id)
            continue
        unrealized[account_id] += pnl.unrealized(book.lots, price, multiplier=multipliers.get(instrument_id, 1))
    return {
        account_id: AccountPnL(realized[account_id], unrealized[account_id], tuple(unpriced[account_id]))
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
        rows = _fill_rows()
        self.books = replay(rows, self.multipliers)
        since = now - COMMIT_MARGIN
        floor = max((row[0] for row in rows if row[7] < since), default=0)
        self._max_id = max((row[0] for row in rows), default=0)
        self._marks = deque([(since, floor), (now, self._max_id)])
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
        rows = list(Fill.objects.filter(id__gt=self._max_id).values_list(*_FILL_FIELDS))
        late = [
            fill_id
            for fill_id in Fill.objects.filter(id__gt=floor, id__lte=self._max_id).values_list("id", flat=True)
            if fill_id not in self._seen
        ]
        if late:
            rows += list(Fill.objects.filter(id__in=late).values_list(*_FILL_FIELDS))
        rows.sort(key=lambda row: (row[6], row[0]))
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
            self._max_id = max(self._max_id, row[0])
        for account_id, instrument_id in replays:
            self.books.update(replay(_fill_rows(account_id=account_id, instrument_id=instrument_id), self.multipliers))
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

    def shape(book: InstrumentBook | None):
        if book is None:
            return (ZERO, ())
        return (book.realized, tuple((lot.quantity, lot.price) for lot in book.lots))

    return sorted(key for key in set(left) | set(right) if shape(left.get(key)) != shape(right.get(key)))
