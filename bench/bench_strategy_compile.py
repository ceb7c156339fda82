"""Strategy compile: a 30-node graph through the compiler with the plan cache off, p99 <= 10 ms.

Each sample validates, orders and plans the whole graph from its JSON text (as the API receives
it); the cached lookup, the path a saved version takes the second time, is printed beside it,
and the CPU time of each compile, for machines busy with other work (where the wall time's tail
is mostly waiting for a core).
"""

from __future__ import annotations

import json
import os
import time

from bench.report import Figure, percentile

SAMPLES = int(os.environ.get("TC_BENCH_COMPILE_SAMPLES", "2000"))


def main() -> list[Figure]:
    from bench.strategy_graphs import thirty_nodes
    from strategies.engine import compile_graph
    from strategies.engine.compiler import compile_uncached

    text = json.dumps(thirty_nodes())
    plan = compile_uncached(text)
    assert plan.node_count == 30, plan.node_count
    for _ in range(50):
        compile_uncached(text)
    samples, cpu = [], []
    for _ in range(SAMPLES):
        started, started_cpu = time.perf_counter(), time.thread_time()
        compile_uncached(text)
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - started_cpu) * 1000)
    compile_graph(text)
    cached = []
    for _ in range(SAMPLES):
        started = time.perf_counter()
        compile_graph(text)
        cached.append((time.perf_counter() - started) * 1000)
    return [
        Figure("compile 30 nodes, cache off, median", percentile(samples, 0.5), "ms"),
        Figure("compile 30 nodes, cache off, p99", percentile(samples, 0.99), "ms", 10.0),
        Figure("compile 30 nodes, cache off, CPU time p99", percentile(cpu, 0.99), "ms"),
        Figure("compile 30 nodes, cached, p99", percentile(cached, 0.99), "ms"),
    ]
