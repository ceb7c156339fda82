"""The CPU of one broker bar in process: closed bar -> decision -> order.place queued -> recorded -> published.

Not a ``make bench`` figure (no goal): a tool for cutting the work of the strategy runner's
broker path on a shared machine, where wall-clock latency measures the neighbours. It sets up
what ``bench_strategy_runner`` part 3 does (an approved every-bar strategy, one broker session,
wide limits, 500 bars of warm history) in its own database (``<DATABASE_URL's>_bench_runner_cpu``)
and Redis prefix, then hands the runner ``N`` closed bars one at a time (``Runner.on_bars``: the
decision, ``session_order_place``, the bar's record) and waits for this process's publishing
thread to render and send the rows each commit announced. Per bar it reports ``process_time``
(every thread of the process, the publishing thread's included), the part up to the order's
commit, and the SQL statements run (``CaptureQueriesContext`` on the runner's connection).

Usage: ``python -m bench.runner_cpu [N] [--profile [FILE]] [--sql]``; with ``--profile`` a second
pass of N bars runs under cProfile (main thread only; the publishing thread is drained in the
main thread instead) and prints the top functions by cumulative time.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

from bench import runner_rig as rig
from bench.database import setup_django


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Rig:
    def __init__(self) -> None:
        import redis
        from django.conf import settings

        from strategies.runner import Runner
        from strategies.services import session_orders

        self.client = redis.Redis.from_url(settings.REDIS_URL)
        account, instruments, _ema, every_bar = rig.seed(1)
        self.instrument = instruments[0]
        self.walk = rig.Walk(instruments, first_time=int(time.time() // 60) * 60 - 60)
        rig.warm_history(self.walk)
        since = datetime.fromtimestamp(self.walk.next_time, tz=UTC)
        rig.sessions(every_bar, account, instruments, 1, mode="broker", since=since)
        self.runner = Runner(client=self.client, prefix=settings.STREAM_PREFIX, owner="cpu-runner", poll=0.005)
        self.runner.refresh()
        assert len(self.runner.live) == 1, "the broker session did not load"
        # The part of a bar up to the order's commit: session_order_place wrapped, timed in place.
        self.placed: list[float] = []
        original = session_orders.session_order_place

        self.placed_wall: list[float] = []

        def timed(**kwargs):
            started, wall = time.process_time(), time.perf_counter()
            try:
                return original(**kwargs)
            finally:
                self.placed.append(time.process_time() - started)
                self.placed_wall.append(time.perf_counter() - wall)

        session_orders.session_order_place = timed

    def bar(self) -> list:
        bars = self.walk.bars()
        rig.store(self.walk.instruments, bars)
        return bars

    def one(self, bars, *, settle: bool = True) -> None:
        from streams import publish

        self.runner.on_bars(bars)
        if settle:
            publish.settle(10.0)


def measure(bench: Rig, n: int, *, sql: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cpu, statements = [], []
    bench.placed.clear()
    bench.placed_wall.clear()
    orders_before = _orders()
    for _ in range(n):
        bars = bench.bar()
        if sql:
            # The publishing thread's statements too: publish in this thread, on this connection.
            with inline_publish() as flush, CaptureQueriesContext(connection) as captured:
                bench.one(bars, settle=False)
                ran = len(captured.captured_queries)
                flush()
            statements.append((ran, len(captured.captured_queries) - ran))
            if len(statements) == 1:
                for query in captured.captured_queries:
                    print("   ", query["sql"][:160].replace("\n", " "))
            continue
        started = time.process_time()
        bench.one(bars)
        cpu.append((time.process_time() - started) * 1000)
    placed = [x * 1000 for x in bench.placed]
    wall = [x * 1000 for x in bench.placed_wall]
    return {"cpu": cpu, "placed": placed, "wall": wall, "statements": statements, "orders": _orders() - orders_before}


def _orders() -> int:
    from orders.models import Order

    return Order.objects.count()


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv and argv[0].isdigit() else 200
    os.environ["TRADECONSOLE_STREAM_PREFIX"] = f"tcbenchcpu{uuid.uuid4().hex[:6]}"
    setup_django("runner_cpu")
    from bench.live_rig import wipe_prefix

    bench = Rig()
    try:
        for _ in range(20):  # warm: imports, the ORM's caches, the first connections
            bench.one(bench.bar())
        figures = measure(bench, n, sql=False)
        cpu, placed = figures["cpu"], figures["placed"]
        print(f"bars: {n}, orders placed: {figures['orders']}")
        named = [
            ("bar -> recorded and published", cpu),
            ("session_order_place", placed),
            ("session_order_place, wall clock", figures["wall"]),
        ]
        for name, values in named:
            print(
                f"{name}: median {statistics.median(values):.2f} ms, p90 {_percentile(values, 0.9):.2f} ms,"
                f" mean {statistics.fmean(values):.2f} ms"
            )
        if "--sql" in argv:
            counted = measure(bench, 5, sql=True)["statements"]
            print(f"statements per bar (runner's, publishing's): {counted}")
        if "--profile" in argv:
            _profile(bench, n, argv)
    finally:
        wipe_prefix(bench.client, os.environ["TRADECONSOLE_STREAM_PREFIX"])


@contextmanager
def inline_publish():
    """Queue the commits' announcements here instead of the publishing thread; yield a call publishing them."""
    from streams import publish

    queued: list[dict] = []
    publisher = publish._publisher()
    publish.settle(10.0)
    publisher.put = queued.append

    def flush() -> None:
        for changes in queued:
            publish.publish(changes)
        queued.clear()

    try:
        yield flush
    finally:
        del publisher.put


def _profile(bench: Rig, n: int, argv: list[str]) -> None:
    # The publishing thread's work, profiled: published in this thread.
    profile = cProfile.Profile(time.process_time)
    with inline_publish() as flush:
        for _ in range(n):
            bars = bench.bar()
            profile.enable()
            bench.one(bars, settle=False)
            flush()
            profile.disable()
    at = argv.index("--profile")
    path = argv[at + 1] if len(argv) > at + 1 and not argv[at + 1].startswith("-") else None
    if path:
        profile.dump_stats(path)
    stats = pstats.Stats(profile).strip_dirs().sort_stats("cumulative")
    stats.print_stats(60)


if __name__ == "__main__":
    main(sys.argv[1:])
