"""The bridge's, relay's and runner-side processes' Prometheus series: Prometheus text with the named
series, read from the real streams and outbox, and served on the bridge's port as the Procfile runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Alert, OutboxMessage
from accounts.services import alert_raise, alert_resolve, outbox_enqueue
from execution_worker import messages as m
from execution_worker.tests.private_redis import _free_port
from streams import keys
from streams.metrics import DeskFigures, ProcessFigures, StreamFigures
from streams.services import heartbeat_record
from streams.tests.harness import xadd
from tradeconsole.tests.database import database_url

pytestmark = pytest.mark.django_db


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _collect(*collectors) -> dict:
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    return _samples(generate_latest(registry).decode())


def _heartbeat() -> m.WorkerHeartbeat:
    return m.WorkerHeartbeat(
        worker="w1", started_at=time.time_ns(), in_flight=0, pacing_tokens=Decimal(2), state="ready"
    )


def test_stream_figures_carry_entries_lag_pending_and_the_outbox_backlog(redis_client):
    events, commands = keys.events_stream(), keys.commands_stream()
    redis_client.xgroup_create(events, m.EVENTS_GROUP, id="0", mkstream=True)
    # The first two entries were added 30 s ago (an entry's id is its time), the others now.
    old_ms = int(time.time() * 1000) - 30_000
    for n in range(2):
        redis_client.xadd(events, m.encode(_heartbeat()), id=f"{old_ms}-{n}")
    for _ in range(2):
        xadd(redis_client, _heartbeat())
    redis_client.xreadgroup(m.EVENTS_GROUP, "reader", {events: ">"}, count=1)
    redis_client.xadd(commands, {"v": "1"})
    message = outbox_enqueue(type="broker.refresh", data={"what": ["positions"]})
    OutboxMessage.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=30))
    samples = _collect(StreamFigures())
    assert samples[("tradeconsole_stream_entries_added_total", (("stream", events),))] == 4
    assert samples[("tradeconsole_stream_entries_added_total", (("stream", commands),))] == 1
    assert samples[("tradeconsole_stream_length", (("stream", events),))] == 4
    group = (("group", m.EVENTS_GROUP), ("stream", events))
    assert samples[("tradeconsole_stream_group_lag", group)] == 3
    assert samples[("tradeconsole_stream_group_pending", group)] == 1
    # One entry read: the oldest unread one is the second of 30 s ago.
    assert 29 < samples[("tradeconsole_stream_group_lag_seconds", group)] < 60
    assert samples[("tradeconsole_outbox_backlog", ())] == 1
    assert 29 < samples[("tradeconsole_outbox_oldest_age_seconds", ())] < 120


def test_desk_figures_count_unresolved_alerts_and_age_each_heartbeat():
    alert_raise(
        key="gateway.disconnected", kind="gateway.disconnected", message="down", severity=Alert.Severity.CRITICAL
    )
    alert_raise(key="stream.lag:a", kind="stream.lag", message="lag", severity=Alert.Severity.WARNING)
    alert_raise(key="stream.lag:b", kind="stream.lag", message="lag", severity=Alert.Severity.WARNING)
    alert_raise(key="outbox.backlog", kind="stream.lag", message="gone", severity=Alert.Severity.WARNING)
    alert_resolve(key="outbox.backlog")
    heartbeat_record(name="bridge", seen_at=timezone.now() - timedelta(seconds=20), state="running")
    samples = _collect(DeskFigures())
    critical = (("kind", "gateway.disconnected"), ("severity", "critical"), ("status", "open"))
    assert samples[("tradeconsole_alerts_unresolved", critical)] == 1
    lag = (("kind", "stream.lag"), ("severity", "warning"), ("status", "open"))
    assert samples[("tradeconsole_alerts_unresolved", lag)] == 2
    age = samples[("tradeconsole_process_heartbeat_age_seconds", (("process", "bridge"), ("state", "running")))]
    assert 19 < age < 120


def test_process_figures_become_one_gauge_each_with_the_loop_as_a_label():
    figures = {"bars": {"ticks": 12, "lag_ms": 3.5, "name": "x"}, "broker": {"connected": True, "scans": 2}}
    samples = _collect(ProcessFigures("marketdata", lambda: figures))
    assert samples[("tradeconsole_marketdata_ticks", (("loop", "bars"),))] == 12
    assert samples[("tradeconsole_marketdata_lag_ms", (("loop", "bars"),))] == 3.5
    assert samples[("tradeconsole_marketdata_connected", (("loop", "broker"),))] == 1
    assert not any(name == "tradeconsole_marketdata_name" for name, _ in samples)
    runner = _collect(ProcessFigures("runner", lambda: {"bars": 5, "decisions": 2}, labels={"runner": "r1"}))
    assert runner[("tradeconsole_runner_bars", (("runner", "r1"),))] == 5


@pytest.mark.django_db(transaction=True)
def test_the_bridge_process_serves_its_series_on_its_port(redis_client):
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "TRADECONSOLE_BRIDGE_METRICS_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "stream_bridge", "--consumer", "bridge-metrics"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def scrape():
        try:
            return _samples(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
        except requests.ConnectionError:
            return None

    try:
        deadline = time.monotonic() + 60
        samples = None
        xadd(redis_client, _heartbeat())
        xadd(redis_client, _heartbeat())
        while time.monotonic() < deadline:
            samples = scrape()
            if samples and samples.get(("tradeconsole_bridge_events_applied_total", ())) == 2:
                break
            time.sleep(0.2)
        assert samples and samples[("tradeconsole_bridge_events_applied_total", ())] == 2, process.poll()
        events = keys.events_stream()
        assert samples[("tradeconsole_stream_entries_added_total", (("stream", events),))] == 2
        assert samples[("tradeconsole_stream_group_lag", (("group", m.EVENTS_GROUP), ("stream", events)))] == 0
        assert samples[("tradeconsole_stream_group_lag_seconds", (("group", m.EVENTS_GROUP), ("stream", events)))] == 0
        assert ("tradeconsole_outbox_backlog", ()) in samples
        assert any(name == "tradeconsole_process_heartbeat_age_seconds" for name, _ in samples)
        assert ("process_cpu_seconds_total", ()) in samples
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err.decode()[-2000:]
