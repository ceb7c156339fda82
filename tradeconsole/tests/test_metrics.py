"""Prometheus exposition of web and api (/metrics) and of Celery's tasks: it parses as Prometheus text
and carries the named series, which move with what they count."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streams.celery_signals import beat_heartbeat_record, worker_heartbeat_record
from tradeconsole.celery import app as celery_app

REQUESTS = "django_http_requests_total_by_view_transport_method"
LATENCY = "django_http_requests_latency_seconds_by_view_method"


def _families(text: str) -> dict:
    return {family.name: family for family in text_string_to_metric_families(text)}


def _value(families: dict, family: str, sample: str, **labels) -> float:
    """The value of ``sample`` of ``family`` whose labels include ``labels``; 0 when absent."""
    if family not in families:
        return 0.0
    return sum(
        s.value
        for s in families[family].samples
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items())
    )


def _scrape(client) -> dict:
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return _families(response.content.decode())


def test_a_request_to_a_view_counts_it_and_its_latency_by_view(client):
    before = _scrape(client)
    for _ in range(3):
        assert client.get("/health/live").status_code == 200
    after = _scrape(client)
    counted = _value(after, REQUESTS, REQUESTS + "_total", view="health-live", method="GET")
    assert counted - _value(before, REQUESTS, REQUESTS + "_total", view="health-live", method="GET") == 3
    timed = _value(after, LATENCY, LATENCY + "_count", view="health-live", method="GET")
    assert timed - _value(before, LATENCY, LATENCY + "_count", view="health-live", method="GET") == 3
    assert _value(after, "django_http_responses_total_by_status", "django_http_responses_total_by_status_total") > 0


def test_metrics_are_refused_to_other_addresses(client):
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 403


@pytest.mark.django_db
def test_staff_may_read_the_metrics_from_anywhere(client, user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    response = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 200
    assert REQUESTS in _families(response.content.decode())


def test_metrics_switched_off_answer_404(client, settings):
    settings.METRICS = False
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404


@pytest.fixture
def tasks():
    """Two tasks of the test: one that returns, one that raises."""

    @celery_app.task(name="tests.metrics.ok")
    def ok():
        return 1

    @celery_app.task(name="tests.metrics.boom")
    def boom():
        raise ValueError("boom")

    yield ok, boom
    celery_app.tasks.pop("tests.metrics.ok", None)
    celery_app.tasks.pop("tests.metrics.boom", None)


def test_celery_tasks_are_timed_by_task_and_state_and_failures_counted(tasks):
    ok, boom = tasks
    duration = "tradeconsole_celery_task_duration_seconds"
    before = _families(generate_latest(REGISTRY).decode())
    ok.apply()
    ok.apply()
    boom.apply()
    after = _families(generate_latest(REGISTRY).decode())

    def moved(family, sample, **labels):
        return _value(after, family, sample, **labels) - _value(before, family, sample, **labels)

    assert moved(duration, duration + "_count", task="tests.metrics.ok", state="SUCCESS") == 2
    assert moved(duration, duration + "_count", task="tests.metrics.boom", state="FAILURE") == 1
    assert moved(duration, duration + "_sum", task="tests.metrics.ok", state="SUCCESS") > 0
    failures = "tradeconsole_celery_task_failures"
    assert moved(failures, failures + "_total", task="tests.metrics.boom") == 1
    assert moved(failures, failures + "_total", task="tests.metrics.ok") == 0


@pytest.mark.django_db
def test_beat_and_a_celery_worker_record_their_heartbeats(client):
    from accounts.models import ProcessHeartbeat

    beat_heartbeat_record(task="orders.tasks.monitoring_run")
    worker_heartbeat_record("celery@desk1")
    beats = {beat.name: beat for beat in ProcessHeartbeat.objects.all()}
    assert beats["beat"].state == "running" and "monitoring_run" in beats["beat"].detail
    assert beats["celery@desk1"].state == "running"
    checks = client.get("/health/detailed").json()["checks"]
    assert checks["beat"]["state"] == "ok" and checks["celery"]["workers"] == ["celery@desk1"]
    worker_heartbeat_record("celery@desk1", state="stopped")
    assert client.get("/health/detailed").json()["checks"]["celery"]["state"] == "fail"
