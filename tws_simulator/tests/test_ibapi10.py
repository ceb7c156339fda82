"""The simulator also serves ibapi-stable 10.x (which negotiates 157 with it), run in its own interpreter.

``ibapi-stable`` installs under the same package name as ``ibapi`` 9.81, so it lives in a venv of its
own: ``$TC_IBAPI10_PYTHON`` if set, else ``.venv-ibapi10/`` at the repository root (``make
.venv-ibapi10``), else a throwaway ``/tmp/tc-ibapi10-venv`` built here on first use. When none can be
had (no registry access), the test is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tws_simulator.tests.ibapi10 import ibapi10_python

SESSION = Path(__file__).with_name("ibapi10_session.py")


def test_the_ibapi_10_client_places_cancels_and_reads_everything_over_a_socket(sim):
    python = ibapi10_python()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    run = subprocess.run(
        [str(python), str(SESSION), str(sim.port)], capture_output=True, text=True, timeout=60, env=env, cwd="/tmp"
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["server_version"] == 157
    assert (out["nextValidId"], out["managedAccounts"]) == (1, "DU0000001")
    assert out["filled"][:4] == [1, "Filled", 100.0, 0.0]
    assert out["execDetails"][0:2] == [-1, "AAPL"] and out["execDetails"][3] == 100.0
    assert out["commission"] == [out["execDetails"][2], 1.0]
    assert out["cancelled"][1] == "Cancelled" and out["cancel_error"][1] == 202
    assert out["unknown_cancel"][1] == 10147
    assert out["positions"] == [["DU0000001", "AAPL", 100.0, pytest.approx(out["filled"][4] + 0.01)]]
    assert {row[2] for row in out["accountSummary"]} == {"NetLiquidation", "TotalCashValue"}
    assert [row[2] for row in out["executions"]] == [out["execDetails"][2]]
    assert out["tickPrice"][1] == 2 and out["tickSize"][1] == 3
    assert out["farm_codes"] == [2104, 2106, 2158]
    assert out["unexpected_errors"] == []
    ledger = sim.control.ledger()
    assert [(p["order_id"], p["order_ref"], p["client_id"]) for p in ledger["place_orders"]] == [
        (1, "v10-1", 21),
        (2, "v10-2", 21),
    ]
