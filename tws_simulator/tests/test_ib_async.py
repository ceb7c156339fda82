"""A third-party client's ordinary session works against the simulator: ib_async, in a venv of its own.

ib_async (``ib_async==2.1.0``) has its own decoder and its own startup requests (positions, open and
completed orders, account updates, account updates per account, executions), so it checks the
simulator's messages against a second reading of the protocol. It lives in ``.venv-ibasync/``, built
by ``make .venv-ibasync/bin/python`` (``make test`` builds it first), or ``$TC_IBASYNC_PYTHON``. The
test is never skipped: without that interpreter it fails and says how to build it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest
import time_machine

ROOT = Path(__file__).resolve().parents[2]
SESSION = Path(__file__).with_name("ib_async_session.py")
NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)  # Tuesday 11:00 New York


def ib_async_python() -> Path:
    """The interpreter with ib_async: ``$TC_IBASYNC_PYTHON`` or ``.venv-ibasync/bin/python``."""
    python = Path(os.environ.get("TC_IBASYNC_PYTHON") or ROOT / ".venv-ibasync" / "bin" / "python")
    ok = python.exists() and subprocess.run([str(python), "-c", "import ib_async"], timeout=60).returncode == 0
    assert ok, f"{python} cannot import ib_async: run `make .venv-ibasync/bin/python` (make test does)"
    return python


def test_an_ib_async_session_connects_qualifies_reads_history_and_the_portfolio(make_sim):
    python = ib_async_python()
    with time_machine.travel(NOW, tick=True):
        sim = make_sim()
        sim.control.inject_external_fill(account="DU0000001", symbol="AAPL", action="BUY", quantity=100, price=None)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
        run = subprocess.run(
            [str(python), str(SESSION), str(sim.port)], capture_output=True, text=True, timeout=90, env=env, cwd="/tmp"
        )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "timed out" not in run.stderr, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    state = sim.control.state()
    assert out["server_version"] == 157 and out["accounts"] == ["DU0000001"]
    con_id = state["positions"][0]["con_id"]
    assert out["contract"] == [con_id, "AAPL", "NASDAQ"]
    assert out["details"] == ["APPLE INC", 0.01, "US/Eastern"]
    assert [b[0] for b in out["bars"]] == ["2026-03-10 09:30:00", "2026-03-10 10:00:00", "2026-03-10 11:00:00"]
    assert all(b[3] <= min(b[1], b[4]) and b[2] >= max(b[1], b[4]) for b in out["bars"])
    assert out["unknown"] == []
    assert out["portfolio"] == [["AAPL", 100.0, state["quotes"]["AAPL"]["last"], "DU0000001"]]
    assert out["positions"] == [["AAPL", 100.0]]
    assert out["account_values"]["AccountCode"] == "DU0000001"
    assert float(out["account_values"]["NetLiquidation"]) == pytest.approx(
        float(out["account_values"]["TotalCashValue"]) + 100 * state["quotes"]["AAPL"]["last"]
    )
    assert out["completed"] == [["AAPL", "Filled"]]
    assert [e[1] for e in out["errors"]] == [2104, 2106, 2158, 200]
    assert out["connected_after"] is False
