"""The command line: serves on the given port, stops cleanly on SIGTERM, and keeps ids in its state file."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading

from tws_simulator.tests.client import connect, disconnect, order, stock


def start(*args: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tws_simulator", "--port", "0", "--log-level", "WARNING", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(15)
    if not line:
        proc.kill()
        raise AssertionError("simulator did not announce its port")
    match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line[0])
    assert match, line[0]
    return proc, int(match.group(1))


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def test_the_command_line_serves_stops_on_sigterm_and_keeps_ids_in_the_state_file(tmp_path):
    state = tmp_path / "sim.json"
    proc, port = start("--accounts", "DU0000001,DU0000002", "--seed", "1", "--state-file", str(state))
    try:
        app = connect(port, 5)
        assert app.events[0] == ("managedAccounts", ("DU0000001,DU0000002",))
        app.placeOrder(7, stock("AAPL"), order("BUY", 1, account="DU0000002"))
        app.wait_for(lambda e: e[0] == "orderStatus" and e[1][1] == "Filled")
        disconnect(app)
    finally:
        code = stop(proc)
    assert code == 0, proc.stderr.read()
    assert state.exists()
    proc, port = start("--accounts", "DU0000001,DU0000002", "--state-file", str(state))
    try:
        app = connect(port, 5)
        assert app.next_id == 8
        disconnect(app)
    finally:
        assert stop(proc) == 0
