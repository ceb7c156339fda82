"""Datafeed history: 5,000 one-minute bars answered in <= 50 ms p99; a year of one-minute bars in <= 1 s.

Runs on the machine's PostgreSQL in a private database (``<DATABASE_URL name>_bench_datafeed``,
made fresh each run) holding a year of one-minute bars of one symbol (252 sessions x 390
minutes, ~98,000 rows) and a forming bar in Redis. Each request goes through the whole Django
stack in process (the test client: URL routing, session authentication, the permission, query
validation, the selector, JSON rendering), signed in as a Viewer; the time is the server's,
from the request entering Django to the rendered body. Bounded: ``TC_BENCH_DATAFEED_ROUNDS``
requests of 5,000 bars (default 300) at random places in the year, and
``TC_BENCH_DATAFEED_YEAR_ROUNDS`` of the whole year (default 10).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.database import setup_django
from bench.report import Figure, percentile

ROUNDS = int(os.environ.get("TC_BENCH_DATAFEED_ROUNDS", "300"))
YEAR_ROUNDS = int(os.environ.get("TC_BENCH_DATAFEED_YEAR_ROUNDS", "10"))
WINDOW_BARS = 5000
SESSIONS = 252
MINUTES = 390
SYMBOL = "BENCHDF"
FIRST_OPEN = datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
URL = "/api/v1/datafeed/history"


def main() -> list[Figure]:
    setup_django("datafeed")
    client, starts = _setup()
    rng = random.Random(1)
    try:
        window = []
        for _ in range(ROUNDS):
            first = rng.randrange(0, len(starts) - WINDOW_BARS)
            # ``to`` is the start after the window's last bar: exactly WINDOW_BARS bars.
            window.append(_timed(client, starts[first], starts[first + WINDOW_BARS], expect=WINDOW_BARS))
        countback = [
            _timed(client, None, starts[rng.randrange(WINDOW_BARS, len(starts))], expect=WINDOW_BARS, countback=True)
            for _ in range(ROUNDS // 3)
        ]
        year = [_timed(client, starts[0], starts[-1] + 60, expect=len(starts)) for _ in range(YEAR_ROUNDS)]
    finally:
        _clean()
    cpu = [_CPU[key] for key in sorted(_CPU)]
    return [
        Figure(f"history of {WINDOW_BARS} 1-minute bars, median", statistics.median(window), "ms"),
        Figure(f"history of {WINDOW_BARS} 1-minute bars, p99", percentile(window, 0.99), "ms", 50.0),
        Figure(f"history countback={WINDOW_BARS} 1-minute bars, p99", percentile(countback, 0.99), "ms", 50.0),
        Figure(f"history of a year of 1-minute bars ({len(starts)}), median", statistics.median(year), "ms"),
        Figure(f"history of a year of 1-minute bars ({len(starts)}), max", max(year), "ms", 1000.0),
        # What the web process itself spends (the rest is PostgreSQL and waiting for a core):
        Figure(f"web process CPU per {WINDOW_BARS}-bar request, median", statistics.median(cpu[0]), "ms"),
        Figure("web process CPU per year request, median", statistics.median(cpu[1]), "ms"),
        Figure(f"machine load average over the last minute ({os.cpu_count()} cores)", os.getloadavg()[0], ""),
    ]


# Process CPU time per request (ms), by expected bar count: the year last.
_CPU: dict[int, list[float]] = {}


def _timed(client, start: int | None, end: int, *, expect: int, countback: bool = False) -> float:
    params = {"symbol": SYMBOL, "resolution": "1", "to": end}
    if countback:
        params["countback"] = expect
    else:
        params["from"] = start
    began, cpu = time.perf_counter(), time.process_time()
    response = client.get(URL, params)
    body = response.content
    elapsed = (time.perf_counter() - began) * 1000
    _CPU.setdefault(expect, []).append((time.process_time() - cpu) * 1000)
    if response.status_code != 200 or len(response.json()["t"]) < expect:
        raise SystemExit(f"history answered {response.status_code}: {body[:200]!r}")
    return elapsed


def _setup():
    from django.conf import settings
    from django.test import Client

    from accounts.models import Role
    from accounts.tests.factories import BrokerAccountFactory, UserFactory
    from marketdata import bars
    from marketdata.keys import MarketKeys
    from marketdata.models import Bar
    from orders.models import Instrument
    from streams.redis_client import get_redis

    _clean()
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    instrument = Instrument.objects.create(symbol=SYMBOL, con_id=None, last_price=Decimal("100"))
    rng = random.Random(7)
    rows, starts, price = [], [], Decimal("100.00")
    day = FIRST_OPEN
    for _ in range(SESSIONS):
        while day.weekday() >= 5:
            day += timedelta(days=1)
        for minute in range(MINUTES):
            start = day + timedelta(minutes=minute)
            step = Decimal(rng.randint(-20, 20)) / 100
            high, low = max(price, price + step) + Decimal("0.03"), min(price, price + step) - Decimal("0.02")
            rows.append(
                Bar(
                    instrument=instrument,
                    resolution="1",
                    start=start,
                    open=price,
                    high=high,
                    low=low,
                    close=price + step,
                    volume=Decimal(rng.randint(100, 50_000)),
                    source=Bar.Source.HISTORY,
                )
            )
            starts.append(int(start.timestamp()))
            price += step
        day += timedelta(days=1)
    Bar.objects.bulk_create(rows, batch_size=10_000)
    forming = bars.opened(SYMBOL, "1", starts[-1] + 60, price, Decimal(10))
    get_redis().set(MarketKeys(settings.STREAM_PREFIX).forming_bar(SYMBOL, "1"), forming.encode())
    viewer = UserFactory(username="bench-datafeed", roles=[Role.VIEWER], accounts=[BrokerAccountFactory()])
    client = Client()
    client.force_login(viewer)
    return client, starts


def _clean() -> None:
    from django.conf import settings

    from marketdata.keys import MarketKeys
    from marketdata.models import Bar
    from streams.redis_client import get_redis

    Bar.objects.filter(instrument__symbol=SYMBOL).delete()
    get_redis().delete(MarketKeys(settings.STREAM_PREFIX).forming_bar(SYMBOL, "1"))
