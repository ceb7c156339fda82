"""Run every benchmark (or those named) and print one line per figure with its goal.

Usage: python -m bench [name ...]   e.g. python -m bench sim_throughput worker_latency
Exits 1 when a figure missed its goal, so a regression is visible.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def _modules(names: list[str]) -> list[str]:
    found = sorted(m.name[len("bench_") :] for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    unknown = set(names) - set(found)
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(found)}")
    return names or found


def main(argv: list[str]) -> int:
    missed = 0
    for name in _modules(argv):
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}: {module.__doc__.strip().splitlines()[0] if module.__doc__ else ''}", flush=True)
        started = time.monotonic()
        for figure in module.main():
            print(figure.line(), flush=True)
            missed += not figure.ok
        print(f"   ({time.monotonic() - started:.1f} s)", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
