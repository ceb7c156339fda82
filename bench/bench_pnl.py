"""Monitoring PnL: incremental run <= 20 ms + 20 us per new fill (100 accounts, 1,000 new fills <= 40 ms);
full recompute <= 1 s per 100,000 fills.

Runs on the machine's PostgreSQL in a private database (``<DATABASE_URL name>_bench_pnl``, created
and migrated on first use, emptied each run). 100 accounts trade 10 instruments. The incremental
figure is one monitoring PnL step as the loop runs it (``orders.monitoring.pnl_update``: read the
new fills, apply them to the FIFO books, value the open lots at the last prices and store one
PnL point per account); the fills are inserted beforehand, outside the timing. The full figure is
``orders.monitoring.books.full_recompute`` over every fill, from the database read to the books.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import timedelta
from decimal import Decimal

from bench.database import setup_django
from bench.report import Figure, percentile

ACCOUNTS = int(os.environ.get("TC_BENCH_PNL_ACCOUNTS", "100"))
INSTRUMENTS = 10
NEW_FILLS = int(os.environ.get("TC_BENCH_PNL_NEW_FILLS", "1000"))
ROUNDS = int(os.environ.get("TC_BENCH_PNL_ROUNDS", "30"))
FULL_FILLS = int(os.environ.get("TC_BENCH_PNL_FULL_FILLS", "100000"))


def main() -> list[Figure]:
    setup_django("pnl")
    from django.conf import settings

    settings.MONITOR_FULL_RECOMPUTE_EVERY = 10**9  # time the incremental path alone
    accounts, instruments = _setup()
    # The loop runs in a Celery worker process, which freezes what it loaded at start.
    from tradeconsole.startup_memory import freeze_startup_objects

    freeze_startup_objects()
    rng = random.Random(1)
    try:
        idle = _incremental(accounts, instruments, rng, fills=0, rounds=ROUNDS)
        busy = _incremental(accounts, instruments, rng, fills=NEW_FILLS, rounds=ROUNDS)
        full = _full(accounts, instruments, rng)
    finally:
        _clean()
    budget_idle = 20.0
    budget_busy = 20.0 + 0.020 * NEW_FILLS
    return [
        Figure(
            f"pnl incremental, {ACCOUNTS} accounts, no new fill, median", statistics.median(idle), "ms", budget_idle
        ),
        Figure(f"pnl incremental, {ACCOUNTS} accounts, no new fill, p99", percentile(idle, 0.99), "ms", budget_idle),
        Figure(
            f"pnl incremental, {ACCOUNTS} accounts, {NEW_FILLS} new fills, median",
            statistics.median(busy),
            "ms",
            budget_busy,
        ),
        Figure(
            f"pnl incremental, {ACCOUNTS} accounts, {NEW_FILLS} new fills, p99",
            percentile(busy, 0.99),
            "ms",
            budget_busy,
        ),
        Figure(f"pnl full recompute of {FULL_FILLS} fills, median", statistics.median(full), "ms", 1000.0),
        Figure(f"pnl full recompute of {FULL_FILLS} fills, max", max(full), "ms", 1000.0),
    ]


def _setup():
    from accounts.models import BrokerAccount
    from orders.models import Instrument

    _clean()
    accounts = BrokerAccount.objects.bulk_create(
        [BrokerAccount(code=f"DU9{n:06d}", name=f"bench {n}") for n in range(ACCOUNTS)]
    )
    instruments = Instrument.objects.bulk_create(
        [Instrument(symbol=f"BENCH{n}", last_price=Decimal("100"), con_id=None) for n in range(INSTRUMENTS)]
    )
    return accounts, instruments


def _clean() -> None:
    from accounts.models import BrokerAccount
    from orders.models import Fill, Instrument, PnLPoint

    PnLPoint.objects.filter(account__code__startswith="DU9").delete()
    Fill.objects.filter(account__code__startswith="DU9").delete()
    BrokerAccount.objects.filter(code__startswith="DU9").delete()
    Instrument.objects.filter(symbol__startswith="BENCH").delete()


def _fills(accounts, instruments, rng, count: int, start):
    from orders.models import Fill

    return [
        Fill(
            exec_id=f"bench.{rng.getrandbits(64):016x}",
            account=rng.choice(accounts),
            instrument=rng.choice(instruments),
            side=rng.choice(("BUY", "SELL")),
            quantity=Decimal(rng.randint(1, 20) * 10),
            price=Decimal(rng.randint(9500, 10500)) / 100,
            executed_at=start + timedelta(microseconds=n),
        )
        for n in range(count)
    ]


def _insert(accounts, instruments, rng, count: int) -> None:
    from django.utils import timezone

    from orders.models import Fill

    if count:
        Fill.objects.bulk_create(_fills(accounts, instruments, rng, count, timezone.now()), batch_size=5000)


def _vacuum() -> None:
    """Bring the fill table to the state autovacuum keeps it in: this benchmark inserts and deletes
    100,000 rows a run, and stale statistics would time PostgreSQL's planner, not the monitor."""
    from django.db import connection

    from orders.models import Fill

    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Fill._meta.db_table}")


def _incremental(accounts, instruments, rng, *, fills: int, rounds: int) -> list[float]:
    from django.utils import timezone

    from orders import monitoring
    from orders.models import PnLPoint

    monitoring.pnl.state = monitoring.pnl.PnLState()
    account_ids = [account.pk for account in accounts]
    _insert(accounts, instruments, rng, 10_000)  # a day's history already in the books
    _vacuum()
    # The loop's clock: one run every 5 s, as beat runs it (the fills' own times do not matter).
    clock = timezone.now()
    monitoring.pnl_update(now=clock, report=monitoring.MonitoringReport(), account_ids=account_ids)
    samples = []
    for _ in range(rounds):
        _insert(accounts, instruments, rng, fills)
        clock += timedelta(seconds=5)
        started = time.perf_counter()
        monitoring.pnl_update(now=clock, report=monitoring.MonitoringReport(), account_ids=account_ids)
        samples.append((time.perf_counter() - started) * 1000)
    PnLPoint.objects.filter(account__code__startswith="DU9").delete()
    return samples


def _full(accounts, instruments, rng) -> list[float]:
    from orders.models import Fill
    from orders.monitoring import books as monitoring_books

    missing = FULL_FILLS - Fill.objects.filter(account__code__startswith="DU9").count()
    _insert(accounts, instruments, rng, max(0, missing))
    _vacuum()
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        books = monitoring_books.full_recompute()
        samples.append((time.perf_counter() - started) * 1000)
        assert books
    return samples
