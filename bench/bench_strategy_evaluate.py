"""Strategy evaluation: a year of one-minute bars (~98,000) through a 10-node EMA crossover in <= 1 s.

``run_history`` from the bars as the desk stores them (BarRecord, decimal prices) to decisions:
columns, TA-Lib's series, then the bar-by-bar step. Runs ``RUNS`` times; median and p99 (the
worst of the runs) beside the goal. The live path's cost of one more bar after a year of bars
(``Evaluator.on_bar``, which recomputes the series over all bars seen) is printed beside it, and
the process's CPU time per run, for machines busy with other work.
"""

from __future__ import annotations

import os
import time

from bench.report import Figure, percentile

RUNS = int(os.environ.get("TC_BENCH_EVALUATE_RUNS", "7"))
LIVE_BARS = 200


def main() -> list[Figure]:
    from bench.strategy_graphs import ema_crossover, year_of_minute_bars
    from strategies.engine import Evaluator, compile_graph, run_history

    bars = year_of_minute_bars()
    plan = compile_graph(ema_crossover())
    assert plan.node_count == 10
    timings, cpu, decisions = [], [], []
    for _ in range(RUNS):
        started, started_cpu = time.perf_counter(), time.process_time()
        decisions = run_history(plan, bars)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    history, tail = bars[:-LIVE_BARS], bars[-LIVE_BARS:]
    evaluator = Evaluator(plan, "SPY")
    live = evaluator.catch_up(history)
    per_bar = []
    for bar in tail:
        started = time.perf_counter()
        live += evaluator.on_bar(bar)
        per_bar.append((time.perf_counter() - started) * 1000)
    assert live == decisions, "the live path decided otherwise than the history run"
    median = percentile(timings, 0.5)
    return [
        Figure(f"{len(bars):,} one-minute bars ({len(decisions)} decisions), median", median, "ms", 1000.0),
        Figure(f"{len(bars):,} one-minute bars, p99 of {RUNS} runs", percentile(timings, 0.99), "ms", 1000.0),
        Figure("CPU time of a run, median", percentile(cpu, 0.5), "ms"),
        Figure("bars per second (median run)", len(bars) / median * 1000, "bars/s"),
        Figure("live on_bar after a year of bars, p99", percentile(per_bar, 0.99), "ms"),
    ]
