"""Sliding windows: the last 100 ticks or bars of a symbol read from Redis, p99 <= 1 ms.

``marketdata.windows.Windows`` on the machine's Redis (``REDIS_URL``) under a private prefix,
deleted afterwards: one symbol's tick stream holds 1,000 ``md.tick`` entries as the worker writes
them, its one-minute window 1,000 closed bars and a forming bar. The window slides as a strategy
sees it: before each read (untimed) one more tick arrives, or the forming bar changes (and every
60th time a bar closes). Each read is timed alone (one round trip and the decoding of what is new:
a tick window read again asks only for the entries after its last one, with a check),
``READS`` of each kind, after a warm-up, in both shapes: records (Decimals, the monitor's) and
columns (float arrays, the strategies'), which carry the goal. "first read" is a reader that has
seen none of the window before (a new ``Windows`` each time), and a bare PING gives the floor of
any read. The CPU time of each read is printed beside, for machines busy with other work.
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
KEPT = 1000
T0 = 1_796_000_400  # a minute's start, 2026-11-30


def main() -> list[Figure]:
    from execution_worker import messages as m
    from marketdata import bars
    from marketdata.keys import MarketKeys
    from marketdata.windows import Windows

    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")
    client = redis.Redis.from_url(url, decode_responses=True)
    prefix = f"tcbench{uuid.uuid4().hex[:8]}"
    keys = MarketKeys(prefix)
    ticks, closed, forming = keys.ticks("AAPL"), keys.closed_bars("AAPL", "1"), keys.forming_bar("AAPL", "1")
    made: dict = {"ticks": 0, "bars": 0}

    def tick() -> None:
        i = made["ticks"] = made["ticks"] + 1
        quote = {"bid": Decimal("189.99"), "ask": Decimal("190.01"), "last": Decimal(190) + Decimal(i % 997) / 100}
        quote.update(bid_size=Decimal(100), ask_size=Decimal(200), last_size=Decimal(100 + i % 1009))
        client.xadd(ticks, m.encode(m.MarketData(symbol="AAPL", **quote)), maxlen=KEPT, approximate=True)

    def trade() -> None:
        # A trade on the forming bar; every 60th trade starts a new minute and the bar closes.
        i = made["bars"] = made["bars"] + 1
        bar = made.get("forming")
        if bar is None or i % 60 == 0:
            if bar is not None:
                client.lpush(closed, replace(bar, closed=True).encode())
                client.ltrim(closed, 0, KEPT - 1)
            bar = bars.opened("AAPL", "1", T0 + 60 * (KEPT + i // 60), Decimal("190.01"), Decimal(300))
        made["forming"] = bar = bar.with_trade(Decimal(190) + Decimal(i % 60) / 100, Decimal(1))
        client.set(forming, bar.encode())

    try:
        pipe = client.pipeline(transaction=False)
        for i in range(KEPT):
            quote = {"bid": Decimal("189.99"), "ask": Decimal("190.01"), "last": Decimal(190) + Decimal(i) / 100}
            quote.update(bid_size=Decimal(100), ask_size=Decimal(200), last_size=Decimal(100 + i))
            pipe.xadd(ticks, m.encode(m.MarketData(symbol="AAPL", **quote)))
            bar = bars.opened("AAPL", "1", T0 + 60 * i, Decimal("190.01"), Decimal(300))
            pipe.lpush(closed, replace(bar.with_trade(Decimal("190.5"), Decimal(1)), closed=True).encode())
        pipe.execute()
        trade()
        windows = Windows(client, prefix)
        # (the write that slides the window, the read)
        reads = {
            "ticks": (tick, lambda: windows.last_ticks("AAPL", WINDOW)),
            "ticks as columns": (tick, lambda: windows.tick_columns("AAPL", WINDOW)),
            "ticks as columns, first read": (tick, lambda: Windows(client, prefix).tick_columns("AAPL", WINDOW)),
            "bars": (trade, lambda: windows.last_bars("AAPL", "1", WINDOW, forming=True)),
            "bars as columns": (trade, lambda: windows.bar_columns("AAPL", "1", WINDOW, forming=True)),
            # The floor under every read: one round trip and nothing to decode. On a busy machine its
            # p99 is waiting for a core after the reply, whatever the reader does.
            "round trip alone (PING)": (lambda: None, client.ping),
        }
        samples: dict[str, list[float]] = {kind: [] for kind in reads}
        # This process's CPU time per read beside the wall time: on a busy machine the wall time
        # is mostly waiting for a core, and the CPU time says what the reader itself costs.
        cpu_ms: dict[str, list[float]] = {kind: [] for kind in reads}
        for kind, (slide, read) in reads.items():
            for _ in range(100):
                slide()
                read()
            for _ in range(READS):
                slide()
                started, cpu = time.perf_counter(), time.thread_time()
                got = read()
                samples[kind].append((time.perf_counter() - started) * 1000)
                cpu_ms[kind].append((time.thread_time() - cpu) * 1000)
                assert got is True or len(got) >= WINDOW, f"{kind}: read {got!r}"
    finally:
        leftover = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if leftover:
            client.delete(*leftover)
        client.close()
    figures = []
    for kind, values in samples.items():
        goals = {"p99": 1.0} if kind in ("ticks as columns", "bars as columns") else {}
        name = kind if kind.startswith("round trip") else f"last {WINDOW} {kind}"
        figures += [f for f in latency_figures(name, values, goals) if "p99.9" not in f.name]
        figures += [
            Figure(f"{name} CPU p50", percentile(cpu_ms[kind], 0.5), "ms"),
            Figure(f"{name} CPU p99", percentile(cpu_ms[kind], 0.99), "ms"),
        ]
    return figures
