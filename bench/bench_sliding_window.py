"""Sliding windows: the last 100 ticks or bars of a symbol read from Redis, p99 <= 1 ms.

``marketdata.windows.Windows`` on the machine's Redis (``REDIS_URL``) under a private prefix,
deleted afterwards: one symbol's tick stream holds 1,000 ``md.tick`` entries as the worker writes
them, its one-minute window 1,000 closed bars and a forming bar. Each read is timed alone (one
round trip and the decoding of 100 items), ``READS`` of each kind, after a warm-up; the CPU time
of each read is printed beside (no goal), for machines busy with other work.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import replace
from decimal import Decimal

import redis

from bench.report import Figure, latency_figures, percentile

READS = int(os.environ.get("TC_BENCH_WINDOW_READS", "2000"))
WINDOW = 100


def main() -> list[Figure]:
    from execution_worker import messages as m
    from marketdata import bars
    from marketdata.keys import MarketKeys
    from marketdata.windows import Windows

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
    client = redis.Redis.from_url(url, decode_responses=True)
    prefix = f"tcbench{uuid.uuid4().hex[:8]}"
    keys = MarketKeys(prefix)
    try:
        pipe = client.pipeline(transaction=False)
        for i in range(1000):
            quote = {"bid": Decimal("189.99"), "ask": Decimal("190.01"), "last": Decimal(190) + Decimal(i) / 100}
            quote.update(bid_size=Decimal(100), ask_size=Decimal(200), last_size=Decimal(100 + i))
            pipe.xadd(keys.ticks("AAPL"), m.encode(m.MarketData(symbol="AAPL", **quote)))
            bar = bars.opened("AAPL", "1", 60 * i, Decimal("190.01"), Decimal(300)).with_trade(Decimal("190.5"), 1)
            pipe.lpush(keys.closed_bars("AAPL", "1"), replace(bar, closed=True).encode())
        pipe.set(keys.forming_bar("AAPL", "1"), bars.opened("AAPL", "1", 60_000, Decimal(190), Decimal(1)).encode())
        pipe.execute()
        windows = Windows(client, prefix)
        samples: dict[str, list[float]] = {"ticks": [], "bars": []}
        # This process's CPU time per read beside the wall time: on a busy machine the wall time
        # is mostly waiting for a core, and the CPU time says what the reader itself costs.
        cpu_ms: dict[str, list[float]] = {"ticks": [], "bars": []}
        reads = {
            "ticks": lambda: windows.last_ticks("AAPL", WINDOW),
            "bars": lambda: windows.last_bars("AAPL", "1", WINDOW, forming=True),
        }
        for kind, read in reads.items():
            for _ in range(100):
                read()
            for _ in range(READS):
                started, cpu = time.perf_counter(), time.thread_time()
                got = read()
                samples[kind].append((time.perf_counter() - started) * 1000)
                cpu_ms[kind].append((time.thread_time() - cpu) * 1000)
                assert len(got) >= WINDOW, f"{kind}: read {len(got)} items"
    finally:
        leftover = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if leftover:
            client.delete(*leftover)
        client.close()
    figures = []
    for kind, values in samples.items():
        figures += [f for f in latency_figures(f"last {WINDOW} {kind}", values, {"p99": 1.0}) if "p99.9" not in f.name]
        figures += [
            Figure(f"last {WINDOW} {kind} CPU p50", percentile(cpu_ms[kind], 0.5), "ms"),
            Figure(f"last {WINDOW} {kind} CPU p99", percentile(cpu_ms[kind], 0.99), "ms"),
        ]
    return figures
