"""Backtest speed: a year of one-minute bars through one EMA crossover in ours, backtrader and backtesting.py.

The same ~97,000 bars (bench.strategy_graphs) and the same rules (EMA 12/26 of the close, buy
100 while flat on the cross above, close on the cross under, market orders at the next bar's
open, no fees) in each; the trades must be the same (count, entry and exit times) or the run
fails. Ours runs from the bars as the desk stores them (BarRecord) to trades, equity curve and
metrics; the others run in .venv-bench (``make bench`` builds it, pinned; the desk's venv never
has them) from a pandas frame built before the clock starts. Bars per second of each (median of
``TC_BENCH_BACKTEST_RUNS`` runs, 3; the others' runs: ``TC_BENCH_BACKTEST_OTHER_RUNS``, 1) and the
ratios beside their goals: at least 10x backtrader's, at least backtesting.py's.
NautilusTrader runs too when .venv-nautilus is there (``make bench`` tries to build it): its bars
per second and its trades beside ours, which differ only where a decision on a session's last bar
fills (Nautilus fills a market order at the deciding bar's close; see backtest_nautilus.py).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import Figure, percentile

RUNS = int(os.environ.get("TC_BENCH_BACKTEST_RUNS", "3"))
OTHER_RUNS = int(os.environ.get("TC_BENCH_BACKTEST_OTHER_RUNS", "1"))
ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
NAUTILUS_PYTHON = ROOT / ".venv-nautilus" / "bin" / "python"


def ema_crossover_graph() -> dict:
    """The bench's EMA crossover without its ATR stop (the others' rules have no stop): eight nodes."""
    from bench.strategy_graphs import ema_crossover

    graph = ema_crossover()
    dropped = {"atr", "stop"}
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] not in dropped]
    graph["edges"] = [e for e in graph["edges"] if e["source"] not in dropped and e["target"] not in dropped]
    return graph


def ours(bars) -> tuple[float, list[tuple[int, int | None]]]:
    from strategies.backtest import run_backtest
    from strategies.engine import compile_graph

    plan = compile_graph(ema_crossover_graph())
    timings, result = [], None
    for _ in range(RUNS):
        started = time.perf_counter()
        result = run_backtest(plan, {"SPY": bars}, starting_cash=10_000_000, fee_model="none")
        timings.append(time.perf_counter() - started)
    trades = [(t.entry_time, t.exit_time) for t in [*result.trades, *result.open_trades]]
    return percentile(timings, 0.5), trades


def _run_script(python: Path, script: str, path: str, *args: str) -> dict:
    done = subprocess.run(
        [str(python), str(ROOT / "bench" / script), path, *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{script} failed (exit {done.returncode})")
    return json.loads(done.stdout)


def others(bars) -> dict:
    if not BENCH_PYTHON.exists():
        raise SystemExit(f"{BENCH_PYTHON} is missing: `make .venv-bench/bin/python` builds it (make bench does).")
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "open", "high", "low", "close", "volume"])
        writer.writerows([b.time, b.open, b.high, b.low, b.close, b.volume] for b in bars)
        handle.flush()
        results = _run_script(BENCH_PYTHON, "backtest_others.py", handle.name, str(OTHER_RUNS))
        if NAUTILUS_PYTHON.exists():
            results["NautilusTrader"] = _run_script(NAUTILUS_PYTHON, "backtest_nautilus.py", handle.name)
    return results


def main() -> list[Figure]:
    from bench.strategy_graphs import year_of_minute_bars

    bars = year_of_minute_bars()
    seconds, our_trades = ours(bars)
    theirs = others(bars)
    figures = [Figure(f"ours: {len(bars):,} bars, {len(our_trades)} trades, bars/s", len(bars) / seconds, "bars/s")]
    for name in ("backtrader", "backtesting.py"):
        their_trades = [tuple(t) for t in theirs[name]["trades"]]
        same = their_trades == our_trades
        if not same:
            first = next((i for i, (a, b) in enumerate(zip(our_trades, their_trades, strict=False)) if a != b), None)
            print(f"   {name}: {len(their_trades)} trades, ours {len(our_trades)}; first difference at {first}")
        figures.append(Figure(f"{name}: bars/s", theirs[name]["bars"] / theirs[name]["seconds"], "bars/s"))
        figures.append(Figure(f"{name}: same trades (count and times) as ours", float(same), "yes", 1, True))
    figures.append(Figure("ours / backtrader", theirs["backtrader"]["seconds"] / seconds, "x", 10, True))
    figures.append(Figure("ours / backtesting.py", theirs["backtesting.py"]["seconds"] / seconds, "x", 1, True))
    nautilus = theirs.get("NautilusTrader")
    if nautilus is None:
        print("   NautilusTrader: not run (.venv-nautilus missing: its wheel did not install here)")
        return figures
    their_trades = [tuple(t) for t in nautilus["trades"]]
    moved = sum(a != b for a, b in zip(our_trades, their_trades, strict=False))
    figures.append(Figure("NautilusTrader: bars/s", nautilus["bars"] / nautilus["seconds"], "bars/s"))
    same_count = float(len(their_trades) == len(our_trades))
    figures.append(Figure("NautilusTrader: trade count equal to ours", same_count, "yes", 1, True))
    # Not a goal: Nautilus fills a session's last-bar decision at that bar's close (another fill rule).
    figures.append(Figure("NautilusTrader: trades at other times (session's last bar)", moved, "trades"))
    figures.append(Figure("ours / NautilusTrader", nautilus["seconds"] / seconds, "x"))
    return figures
