"""/health/detailed: each dependency and process with its state and age; the verdict readiness uses.

Each dependency is stopped for real: a private redis-server terminated, PostgreSQL reached on a port
where nothing listens, processes whose heartbeats have aged (the clock moved on) or say stopped.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.models import OutboxMessage
from accounts.services import outbox_enqueue
from execution_worker.messages import EVENTS_GROUP, StreamNames
from execution_worker.tests.private_redis import _free_port, private_redis
from streams.services import heartbeat_record

PROCESSES = ("execution", "bridge", "relay", "beat", "celery", "monitor")
pytestmark = pytest.mark.django_db


def _desk_beats(*, skip: str = "", at=None, gateway: str = "ready") -> None:
    """Every process beats now (or at ``at``), the worker's gateway in state ``gateway``."""
    at = at or timezone.now()
    for name in ("bridge", "relay", "beat", "monitor", "celery@host1"):
        if name.split("@")[0] != skip:
            heartbeat_record(name=name, seen_at=at, state="running", detail="")
    if skip != "execution":
        heartbeat_record(name="execution", seen_at=at, state=gateway, detail="")


def _detailed(client):
    response = client.get("/health/detailed")
    return response.status_code, response.json()


def test_a_desk_whose_every_part_answers_is_ok_with_each_state_and_age(client):
    _desk_beats(at=timezone.now() - timedelta(seconds=2))
    status, body = _detailed(client)
    assert status == 200, body
    assert body["verdict"] == "ok"
    for name in ("database", "redis", *PROCESSES):
        check = body["checks"][name]
        assert check["state"] == "ok", (name, check)
        assert check["age_s"] is not None
    assert 1.5 < body["checks"]["execution"]["age_s"] < 30
    assert body["checks"]["execution"]["gateway"] == "ready"
    assert body["checks"]["celery"]["workers"] == ["celery@host1"]
    assert client.get("/health/ready").json()["verdict"] == "ok"


@pytest.mark.parametrize("process", PROCESSES)
def test_a_process_whose_heartbeat_aged_fails_and_the_desk_is_degraded_yet_ready(client, process):
    _desk_beats()
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=True):
        _desk_beats(skip=process)
        status, body = _detailed(client)
        ready = client.get("/health/ready")
    assert status == 503
    assert body["verdict"] == "degraded"
    failing = {name for name, check in body["checks"].items() if check["state"] != "ok"}
    assert failing == {process}, body
    assert body["checks"][process]["age_s"] > 100
    assert ready.status_code == 200 and ready.json()["verdict"] == "degraded"


@pytest.mark.parametrize("process", ["execution", "bridge", "relay", "beat", "celery", "monitor"])
def test_a_process_never_seen_fails(client, process):
    _desk_beats(skip=process)
    status, body = _detailed(client)
    assert status == 503 and body["checks"][process]["state"] == "fail"


def test_a_process_that_said_it_stopped_fails_however_recent(client):
    _desk_beats()
    heartbeat_record(name="bridge", state="stopped")
    _status, body = _detailed(client)
    assert body["checks"]["bridge"]["state"] == "fail" and body["checks"]["bridge"]["detail"] == "stopped"


@pytest.mark.parametrize(("gateway", "state"), [("disconnected", "fail"), ("reconciling", "warn"), ("ready", "ok")])
def test_the_workers_gateway_state_decides_its_check(client, gateway, state):
    _desk_beats(gateway=gateway)
    status, body = _detailed(client)
    assert body["checks"]["execution"]["state"] == state
    assert body["checks"]["execution"]["gateway"] == gateway
    assert status == (200 if state == "ok" else 503)


def test_a_bridge_behind_the_events_stream_warns_with_its_lag(client, settings):
    settings.MONITOR_STREAM_LAG_MAX = 3
    _desk_beats()
    events = StreamNames(settings.STREAM_PREFIX).events
    client_redis = redis.Redis.from_url(settings.REDIS_URL)
    client_redis.delete(events)
    client_redis.xgroup_create(events, EVENTS_GROUP, id="0", mkstream=True)
    try:
        for n in range(5):
            client_redis.xadd(events, {"n": n})
        _status, body = _detailed(client)
        assert body["checks"]["bridge"]["state"] == "warn"
        assert body["checks"]["bridge"]["lag"] == 5
        client_redis.xreadgroup(EVENTS_GROUP, "test", {events: ">"}, count=5)
        _status, body = _detailed(client)
        assert body["checks"]["bridge"]["state"] == "ok" and body["checks"]["bridge"]["lag"] == 0
    finally:
        client_redis.delete(events)
        client_redis.close()


def test_commands_waiting_in_the_outbox_fail_the_relay(client, settings):
    _desk_beats()
    message = outbox_enqueue(type="broker.refresh", data={"what": ["positions"]})
    _status, body = _detailed(client)
    assert body["checks"]["relay"]["state"] == "ok"
    OutboxMessage.objects.filter(pk=message.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.MONITOR_OUTBOX_MAX_AGE_SECONDS + 5)
    )
    _status, body = _detailed(client)
    assert body["checks"]["relay"]["state"] == "fail"
    assert body["checks"]["relay"]["outbox_age_s"] > settings.MONITOR_OUTBOX_MAX_AGE_SECONDS


def test_redis_stopped_makes_the_desk_down_and_not_ready(client, settings, tmp_path):
    _desk_beats()
    with private_redis(tmp_path) as server:
        settings.REDIS_URL = server.url()
        status, body = _detailed(client)
        assert status == 200 and body["checks"]["redis"]["state"] == "ok", body
    # The server is terminated: the same URL now reaches nothing.
    status, body = _detailed(client)
    assert status == 503
    assert body["verdict"] == "down"
    assert body["checks"]["redis"] == {
        "state": "fail",
        "ok": False,
        "age_s": None,
        "detail": "Redis does not answer",
        "error": "ConnectionError",
    }
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["verdict"] == "down"


@pytest.mark.django_db(transaction=True)
def test_postgresql_stopped_makes_the_desk_down_and_not_ready(client, monkeypatch):
    _desk_beats()
    assert _detailed(client)[1]["verdict"] == "ok"
    # Nothing listens on this port: the database is as stopped as a killed server.
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", str(_free_port()))
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    try:
        status, body = _detailed(client)
        ready = client.get("/health/ready")
    finally:
        connection.close()
    assert status == 503 and body["verdict"] == "down"
    assert body["checks"]["database"]["state"] == "fail"
    assert body["checks"]["database"]["error"] == "OperationalError"
    assert all(body["checks"][name]["state"] == "fail" for name in PROCESSES)
    assert ready.status_code == 503


def test_an_essential_process_makes_the_desk_down_when_it_fails(client, settings):
    settings.HEALTH_ESSENTIAL = ["database", "redis", "execution"]
    _desk_beats(gateway="disconnected")
    assert client.get("/health/ready").status_code == 503
