"""Run every benchmark (or those named) and print one line per figure with its goal.

Usage: python -m bench [name ...]   e.g. python -m bench sim_throughput worker_latency

Each benchmark runs in a process of its own (``python -m bench --one NAME``): Django is set up
once per process, so a second benchmark in the same process would silently keep the first one's
database and settings; and a benchmark that crashes is reported without hiding the others.
Exits 1 when a figure missed its goal or a benchmark failed, so a regression is visible.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time

import bench

# A benchmark bounds its own run; this only stops one that hangs.
BENCH_TIMEOUT = 1200


def _modules(names: list[str]) -> list[str]:
    found = sorted(m.name[len("bench_") :] for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    unknown = set(names) - set(found)
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(found)}")
    return names or found


def run_one(name: str) -> int:
    """Run benchmark ``name`` in this process, print its figures; return how many missed their goal."""
    module = importlib.import_module(f"bench.bench_{name}")
    missed = 0
    for figure in module.main():
        print(figure.line(), flush=True)
        missed += not figure.ok
    return missed


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        return 1 if run_one(argv[1]) else 0
    failed = []
    for name in _modules(argv):
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0] if module.__doc__ else ''}", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run([sys.executable, "-m", "bench", "--one", name], timeout=BENCH_TIMEOUT).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        if code == 1:
            failed.append(f"{name} (missed a goal)")
        elif code != 0:
            print(f"   {name} FAILED (exit {code})", flush=True)
            failed.append(f"{name} (failed, exit {code})")
        print(f"   ({time.monotonic() - started:.1f} s)", flush=True)
    if failed:
        print(f"== not met: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
