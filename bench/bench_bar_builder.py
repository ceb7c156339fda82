"""Bar builder: 10,000 ticks/s sustained on one core without falling behind.

The builder's loop (``marketdata.bar_loop``, as ``manage.py marketdata`` runs it, bars stored in
a private PostgreSQL database ``<name>_bench_bar_builder``) runs in this process, pinned to one
core, on the machine's Redis under a private prefix deleted afterwards. 200 symbols' tick streams
are written as the execution worker writes them (``bench.bar_feed``: an entry per quote callback,
a trade every sixth). Tick times run on a Monday session (2026-12-07 from 14:59:57 UTC) at the
wall clock's pace, and the loop's clock with them, so minute, five-minute, quarter and hourly bars
close during the run and reach PostgreSQL.

1. Capacity: ``PRELOAD`` entries written first, then read by the loop flat out: ticks per second.
2. Sustained: a feeder process writes ``RATE`` entries a second for ``SECONDS`` seconds while the
   loop runs. Lag is the age of the newest tick of each batch when the batch is written (median,
   p99); catch-up is how long after the feed stopped the loop had read everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench import bar_feed
from bench.database import setup_django
from bench.report import Figure, percentile

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = 200
PRELOAD = int(os.environ.get("TC_BENCH_BARS_PRELOAD", "60000"))
RATE = float(os.environ.get("TC_BENCH_BARS_RATE", "10000"))
SECONDS = float(os.environ.get("TC_BENCH_BARS_SECONDS", "15"))
BASE = datetime(2026, 12, 7, 14, 59, 57, tzinfo=UTC).timestamp()


def main() -> list[Figure]:
    prefix = f"tcbench{uuid.uuid4().hex[:8]}"
    os.environ["TRADECONSOLE_STREAM_PREFIX"] = prefix
    setup_django("bar_builder")
    from django.conf import settings

    from marketdata.keys import MarketKeys
    from marketdata.loops import bar_loop
    from marketdata.models import Bar
    from orders.models import Instrument
    from streams.redis_client import get_redis

    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[0]})  # the builder gets one core; the feeder another when there is one
    names = bar_feed.symbols(SYMBOLS)
    Instrument.objects.bulk_create([Instrument(symbol=name, primary_exchange="NYSE") for name in names])
    client = get_redis()
    keys = MarketKeys(prefix)
    figures: list[Figure] = []
    try:
        # 1. capacity: a backlog read flat out
        feed = bar_feed.entries(names)
        pipe = client.pipeline(transaction=False)
        for i in range(PRELOAD):
            symbol, quote = next(feed)
            pipe.xadd(keys.ticks(symbol), bar_feed.fields_of(symbol, quote, int((BASE + i / RATE) * 1e9)))
            if i % 2000 == 1999:
                pipe.execute()
        pipe.execute()
        client.hset(keys.ticks_read, mapping=dict.fromkeys(names, "0-0"))
        loop = bar_loop(clock=lambda: BASE + PRELOAD / RATE)
        started, cpu = time.perf_counter(), time.process_time()
        while loop.step():
            pass
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert loop.counts.ticks == PRELOAD, f"read {loop.counts.ticks} of {PRELOAD}"
        figures.append(Figure("capacity (backlog read flat out)", PRELOAD / elapsed, "ticks/s", 10_000, True))
        figures.append(Figure("capacity per CPU second", PRELOAD / cpu, "ticks/s"))

        # 2. sustained: RATE ticks/s from another process while the loop keeps up
        t0 = time.time()
        base = BASE + 60  # the next session minute on from the backlog's
        loop.clock = lambda: base + time.time() - t0
        arguments = [prefix, str(SYMBOLS), str(RATE), str(SECONDS), str(base), str(t0), settings.REDIS_URL]
        feeder = subprocess.Popen(
            [sys.executable, "-m", "bench.bar_feed", *arguments],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, {cpus[-1]})),
        )
        before, lags = loop.counts.ticks, []
        deadline = time.monotonic() + SECONDS + 30
        while feeder.poll() is None and time.monotonic() < deadline:
            more = loop.step()
            if loop.counts.ticks > before:
                lags.append(loop.counts.lag_ms)
            if not more:
                time.sleep(0.001)
        fed_at = time.perf_counter()
        written, feed_seconds = feeder.communicate(timeout=30)[0].split()
        while loop.step():
            lags.append(loop.counts.lag_ms)
        catch_up = (time.perf_counter() - fed_at) * 1000
        read = loop.counts.ticks - before
        assert read == int(written), f"read {read} of {written} ticks"
        figures.append(
            Figure(
                "sustained feed (ticks written a second)",
                int(written) / float(feed_seconds),
                "ticks/s",
                10_000 * 0.98,
                True,
            )
        )
        figures.append(Figure("lag p50", percentile(lags, 0.5), "ms"))
        figures.append(Figure("lag p99", percentile(lags, 0.99), "ms", 1000))
        figures.append(Figure("catch-up after the feed stopped", catch_up, "ms", 1000))
        figures.append(Figure("closed bars stored", Bar.objects.count(), "bars"))
        figures.append(Figure("bad ticks", loop.counts.bad_ticks, "ticks", 0))
    finally:
        leftover = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(leftover), 500):
            client.delete(*leftover[i : i + 500])
    return figures
