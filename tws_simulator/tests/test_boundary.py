"""Bursts of exactly 4096*k bytes over a real socket: whole in ibapi 9.81, in ibapi 10.x and in a strict
client, and never a message of id 0 (the old pad frame that strict clients report as a decoding error)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tws_simulator.tests.client import connect, disconnect
from tws_simulator.tests.ibapi10 import ibapi10_python
from tws_simulator.tests.strict import StrictClient, notices, with_a_status

BURST_SCRIPT = Path(__file__).with_name("ibapi10_burst.py")
# Both ways the write path keeps a burst off the boundary: slack in a float field, and a cut in two writes.
BURSTS = {
    "with a float field, 8192 bytes": lambda: with_a_status(8192, count=30),
    "notices only, 4096 bytes": lambda: notices(4096, count=12),
    "notices only, 12288 bytes": lambda: notices(12288, count=60),
}


def push(sim, client_id: int, frames: list[bytes]) -> None:
    """Send ``frames`` as one burst on ``client_id``'s connection, as the simulator sends its replies."""

    def run() -> None:
        conn = next(c for c in sim.connections if c.client_id == client_id)
        conn.send(frames)

    sim.call(run)


def burst_texts(app) -> list[str]:
    return [e[2] for e in app.named("error") if e[2].startswith("burst")]


@pytest.mark.parametrize("kind", list(BURSTS))
def test_a_burst_of_4096k_bytes_arrives_whole_in_ibapi_981_and_a_strict_client_with_no_id_0(sim, clients, kind):
    frames = BURSTS[kind]()
    assert sum(map(len, frames)) % 4096 == 0
    expected = sum(1 for f in frames if b"burst" in f)
    app = clients(1)
    strict = StrictClient(sim.port, 2)
    try:
        push(sim, 1, frames)
        push(sim, 2, frames)
        app.wait_for(lambda e: len(burst_texts(app)) == expected, timeout=5.0)
        strict.wait(lambda m: m[0] == "4" and m[4].startswith(f"burst{expected - 1}"))  # StrictDecodeError on id 0
        assert [m for m in strict.messages if m[0] == "4" and m[4].startswith("burst")] == [
            f[4:].decode().rstrip("\0").split("\0") for f in frames if b"burst" in f
        ]
    finally:
        strict.close()


def test_without_the_guard_ibapi_981_loses_such_a_burst(make_sim):
    sim = make_sim(guard_4096=False)
    app = connect(sim.port, 1)
    try:
        push(sim, 1, notices(4096, count=12))
        time.sleep(1.5)
        assert burst_texts(app) == []
    finally:
        disconnect(app)


def test_bursts_of_4096k_bytes_arrive_whole_in_ibapi_10(sim):
    python = ibapi10_python()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DJANGO_SETTINGS_MODULE")}
    bursts = [make() for make in BURSTS.values()]
    expected = sum(1 for frames in bursts for f in frames if b"burst" in f)
    run = subprocess.Popen(
        [str(python), str(BURST_SCRIPT), str(sim.port), "22", str(expected)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd="/tmp",
    )
    try:
        assert run.stdout.readline().strip() == "ready"
        for frames in bursts:
            push(sim, 22, frames)
            time.sleep(0.3)  # separate bursts, as separate replies are
        out, err = run.communicate(timeout=30)
    finally:
        run.kill()
    assert run.returncode == 0, out[-2000:] + err[-2000:]
    assert json.loads(out.strip().splitlines()[-1]) == {"bursts": expected, "client_errors": []}
