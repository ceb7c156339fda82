"""Every process on the Desk (issue 22): web and api record their own heartbeats, TWS's is the worker's
gateway state, and the figures read as words and rounded numbers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import ProcessHeartbeat
from execution_worker import messages as m
from streams import serving
from streams.figures import figures_text
from streams.rows import process_row
from streams.services import tws_heartbeat_record
from streams.tests.harness import drain, xadd


def test_figures_read_as_words_with_rounded_numbers_and_units():
    text = figures_text(
        {
            "in_flight": 0,
            "orders_sent": 1234,
            "pacing_tokens": "49.5000",
            "halted": [],
            "latency_ms": {"p50": 1.23456, "p99": 3.4, "n": 1.0},
            "queue_ms": {},
        }
    )

    assert text == (
        "halted none · in flight 0 · latency p50 1.23 ms, p99 3.4 ms (1 sample) · orders sent 1,234"
        " · pacing tokens 49.5"
    )
    assert "=" not in text and "n 1.0" not in text


def test_a_processs_nested_figures_read_by_part():
    assert figures_text({"bars": {"symbols": 12, "lag_s": 0.5}}) == "bars: lag 0.5 s, symbols 12"


@pytest.mark.django_db
def test_the_process_row_shows_the_formatted_figures():
    beat = ProcessHeartbeat.objects.create(
        name="execution", last_seen_at=timezone.now(), data={"in_flight": 2, "latency_ms": {"p50": 0.5, "n": 40.0}}
    )

    assert process_row(beat)["ctx"]["figures"] == "in flight 2 · latency p50 0.5 ms (40 samples)"


@pytest.mark.django_db
def test_a_serving_process_records_its_heartbeat():
    started = timezone.now()

    assert serving.serving_heartbeat_record(name="web", started_at=started) is True

    beat = ProcessHeartbeat.objects.get(name="web")
    assert beat.state == "running" and beat.started_at == started and beat.detail.startswith("pid ")


@pytest.mark.django_db(transaction=True)
def test_the_serving_heartbeat_thread_beats_until_stopped(monkeypatch):
    monkeypatch.setattr(serving, "_running", {})
    stop = serving.serving_heartbeat_start("api", every=0.1)
    try:
        assert serving.serving_heartbeat_start("api") is stop  # once per process
        deadline = time.monotonic() + 5
        seen = []
        while time.monotonic() < deadline and len(set(seen)) < 2:
            beat = ProcessHeartbeat.objects.filter(name="api").first()
            if beat:
                seen.append(beat.last_seen_at)
            time.sleep(0.05)
        assert len(set(seen)) >= 2, "the api heartbeat did not move on"
    finally:
        stop.set()
        for thread in threading.enumerate():
            if thread.name == "api-heartbeat":
                thread.join(timeout=5)


@pytest.mark.django_db
def test_tws_beats_while_the_worker_is_connected_and_grows_stale_while_it_is_not():
    at = timezone.now() - timedelta(seconds=60)
    assert tws_heartbeat_record(state="connecting", seen_at=at) is None  # never connected: no row yet

    tws_heartbeat_record(state="ready", detail="connected", seen_at=at)
    tws_heartbeat_record(state="disconnected", detail="socket closed", seen_at=at + timedelta(seconds=30))

    beat = ProcessHeartbeat.objects.get(name="tws")
    assert (beat.state, beat.detail, beat.last_seen_at) == ("disconnected", "socket closed", at)
    assert process_row(beat)["ctx"]["stale"] is True

    tws_heartbeat_record(state="ready", seen_at=at + timedelta(seconds=45))
    beat.refresh_from_db()
    assert (beat.state, beat.last_seen_at) == ("ready", at + timedelta(seconds=45))


@pytest.mark.django_db
def test_the_bridge_records_tws_from_the_workers_gateway_state(redis_client, bridge):
    xadd(redis_client, m.GatewayStatus(state="ready", server_version=157, detail="connected"))
    xadd(
        redis_client,
        m.WorkerHeartbeat(
            worker="w1", started_at=time.time_ns(), in_flight=0, pacing_tokens=Decimal("40"), state="ready"
        ),
    )
    drain(bridge)

    tws = ProcessHeartbeat.objects.get(name="tws")
    execution = ProcessHeartbeat.objects.get(name="execution")
    assert tws.state == "ready" and tws.last_seen_at == execution.last_seen_at


@pytest.mark.django_db
def test_the_desk_lists_web_api_celery_beat_and_tws(client, trader, redis_client):
    now = timezone.now()
    for name in ("web", "api", "celery@host", "beat", "tws", "execution"):
        ProcessHeartbeat.objects.create(name=name, last_seen_at=now, state="running")
    client.force_login(trader)

    page = client.get("/live/").content.decode()

    for name in ("web", "api", "celery@host", "beat", "tws", "execution"):
        assert f'id="process-{name}"' in page


@pytest.mark.django_db(transaction=True)  # the failed beat drops its connection, as in the server
def test_a_heartbeat_the_database_refuses_is_logged_once_per_outage(monkeypatch, caplog):
    def refuse(**kwargs):
        raise RuntimeError("database away")

    monkeypatch.setattr(serving, "heartbeat_record", refuse)
    monkeypatch.setattr(serving, "_failing", set())
    caplog.set_level("INFO", logger="streams.serving")

    assert serving.serving_heartbeat_record(name="web", started_at=timezone.now()) is False
    assert serving.serving_heartbeat_record(name="web", started_at=timezone.now()) is False
    monkeypatch.undo()
    monkeypatch.setattr(serving, "_failing", {"web"})
    assert serving.serving_heartbeat_record(name="web", started_at=timezone.now()) is True

    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "streams.serving"] == [
        ("WARNING", "could not record the web heartbeat"),
        ("INFO", "the web heartbeat is recorded again"),
    ]
