"""``manage.py marketdata`` as the Procfile runs it: it starts its loops, beats, and stops on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import ProcessHeartbeat
from execution_worker import messages as m
from marketdata.keys import MarketKeys
from tradeconsole.tests.database import database_url

ROOT = Path(__file__).resolve().parents[2]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_the_process_follows_the_tick_streams_beats_and_stops_cleanly_on_sigterm(market_redis):
    client, prefix = market_redis
    keys = MarketKeys(prefix)
    client.xadd(keys.ticks("AAPL"), m.encode(m.MarketData(symbol="AAPL", last=Decimal(190), last_size=Decimal(1))))
    # The broker loop runs too: point it at a port where no TWS listens (none of another test's).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nobody = str(probe.getsockname()[1])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TRADECONSOLE_STREAM_PREFIX": prefix,
        "TWS_PORT": nobody,
        "TRADECONSOLE_MARKETDATA_METRICS_PORT": str(metrics_port),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "marketdata"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        # A first start follows the stream from its newest tick on, and keeps that offset.
        newest = client.xrevrange(keys.ticks("AAPL"), count=1)[0][0]
        _wait(lambda: client.hget(keys.ticks_read, "AAPL") == newest, 60, "the offset of the first start")
        beat = _wait(
            lambda: ProcessHeartbeat.objects.filter(name="marketdata", data__bars__symbols=1).first(),
            30,
            "a heartbeat with the stream counted",
        )
        assert beat.state == "running"
        # Its figures are served as Prometheus series on its metrics port.
        text = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        samples = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }
        assert samples[("tradeconsole_marketdata_symbols", (("loop", "bars"),))] == 1
        assert ("tradeconsole_marketdata_connected", (("loop", "broker"),)) in samples
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err.decode()[-2000:]
    assert b"marketdata stopped" in out
    assert ProcessHeartbeat.objects.get(name="marketdata").state == "stopped"
