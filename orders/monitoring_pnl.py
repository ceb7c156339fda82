"""The monitoring loop's PnL: FIFO books kept incrementally from new fills, and a full recompute.

Fills in PostgreSQL are the record; the books here are a cache in the Celery worker process,
rebuilt from scratch whenever the process has none. Both paths use ``orders.pnl`` and apply
each instrument's fills in (``executed_at``, ``id``) order, so they agree by construction; the
monitoring run compares them every ``MONITOR_FULL_RECOMPUTE_EVERY`` runs and raises an alert
if they ever do not.

New fills are found by ``created_at`` with a safety margin, not by ``id > cursor``: ids are
allocated before commit, so a fill committed late can carry a smaller id than one already
seen (the outbox-ordering pitfall); fills already applied are remembered by id for the margin.
A fill executed before the last one applied to its instrument (a late execution report) makes
that instrument's lots be replayed from the database, keeping FIFO order exact.
"""

from __future__ import annotations

from collections import defaultdict
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
        self._seen: dict[int, datetime] = {}
        self._since: datetime | None = None

    def rebuild(self, *, now: datetime | None = None) -> dict[tuple[int, int], InstrumentBook]:
        """Replace the books by a full recompute from every fill; return them."""
        now = now or timezone.now()
        self.multipliers = _multipliers()
        rows = _fill_rows()
        self.books = replay(rows, self.multipliers)
        self._since = now - COMMIT_MARGIN
        # Exactly the rows the recompute used count as seen, so a fill committed meanwhile is
        # picked up by the next catch-up rather than lost.
        self._seen = {row[0]: row[7] for row in rows if row[7] >= self._since}
        return self.books

    def catch_up(self, *, now: datetime | None = None) -> int:
        """Apply the fills committed since the last catch-up; return how many were applied.

        Builds the books from scratch the first time.
        """
        now = now or timezone.now()
        if self.books is None:
            self.rebuild(now=now)
            return 0
        rows = list(
            Fill.objects.filter(created_at__gte=self._since).order_by("executed_at", "id").values_list(*_FILL_FIELDS)
        )
        fresh = [row for row in rows if row[0] not in self._seen]
        if any(row[2] not in self.multipliers for row in fresh):
            self.multipliers = _multipliers()
        replays: set[tuple[int, int]] = set()
        for row in fresh:
            key = (row[1], row[2])
            book = self.books.setdefault(key, InstrumentBook())
            if book.last_executed is not None and (row[6], row[0]) < book.last_executed:
                replays.add(key)
            elif key not in replays:
                _apply(book, row, self.multipliers.get(row[2], 1))
            self._seen[row[0]] = row[7]
        for account_id, instrument_id in replays:
            rows = _fill_rows(account_id=account_id, instrument_id=instrument_id)
            self.books.update(replay(rows, self.multipliers))
        self._since = now - COMMIT_MARGIN
        self._seen = {fill_id: created for fill_id, created in self._seen.items() if created >= self._since}
        return len(fresh)

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
