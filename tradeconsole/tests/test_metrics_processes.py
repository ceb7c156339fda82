"""Metrics of the forking servers as the Procfile runs them: gunicorn's api workers and Celery's prefork
pool each answer for all their processes (one multiprocess directory per server); Celery's worker and
beat record their heartbeats."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import ProcessHeartbeat
from execution_worker.tests.private_redis import _free_port
from orders.tests.celery_processes import purge_broker, start_beat, start_worker, subprocess_env, wait_for, worker_ready
from tradeconsole.celery import app
from tradeconsole.metrics_dir import METRICS_ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _scrape(url: str) -> dict | None:
    try:
        answer = requests.get(url, timeout=10)
    except requests.RequestException:
        return None
    return _samples(answer.text) if answer.status_code == 200 else None


def test_every_gunicorn_worker_answers_for_all_of_them():
    port = _free_port()
    env = subprocess_env()
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "gunicorn", "tradeconsole.wsgi:application", "--bind", f"127.0.0.1:{port}"),
            *("--workers", "3", "--worker-class", "gthread", "--threads", "2", "--log-level", "warning"),
        ],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
    )
    directory = METRICS_ROOT / f"api-{server.pid}"
    try:
        wait_for(
            lambda: _scrape(f"http://127.0.0.1:{port}/metrics") is not None,
            timeout=30,
            what="gunicorn",
            interval=0.5,
        )
        for _ in range(30):
            # A new connection each time: the workers take turns.
            assert requests.get(f"http://127.0.0.1:{port}/health/live", timeout=10).status_code == 200
        assert directory.is_dir()
        key = (
            "django_http_requests_total_by_view_transport_method_total",
            (("method", "GET"), ("transport", "http"), ("view", "health-live")),
        )
        counts = {(_scrape(f"http://127.0.0.1:{port}/metrics") or {}).get(key) for _ in range(6)}
        # Whichever worker answers, the count is the server's: the 30, each answered by one worker.
        assert counts == {30}
        pids = {name.split("_")[-1].removesuffix(".db") for name in os.listdir(directory)}
        assert len(pids) >= 2, pids
    finally:
        server.terminate()
        server.wait(20)
        shutil.rmtree(directory, ignore_errors=True)


def test_celery_tasks_are_counted_across_the_pool_and_the_worker_and_beat_beat(tmp_path):
    purge_broker()
    port = _free_port()
    env = subprocess_env(TRADECONSOLE_CELERY_METRICS_PORT=str(port), TRADECONSOLE_MONITOR_INTERVAL="3600")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    worker = start_worker(tmp_path, "celery", env, concurrency=2)
    beat = None
    try:
        wait_for(lambda: worker_ready(worker), timeout=60, what="the worker")
        for _ in range(4):
            app.send_task("orders.tasks.housekeeping_run")
        key = (
            "tradeconsole_celery_task_duration_seconds_count",
            (("state", "SUCCESS"), ("task", "orders.tasks.housekeeping_run")),
        )
        wait_for(
            lambda: (_scrape(f"http://127.0.0.1:{port}/metrics") or {}).get(key) == 4, timeout=60, what="four tasks"
        )
        assert (METRICS_ROOT / f"celery-{worker.pid}").is_dir()
        beats = ProcessHeartbeat.objects.filter(name__startswith="celery@")
        assert beats.exists() and beats.first().state == "running"
        beat = start_beat(tmp_path, "beat", env)
        wait_for(lambda: ProcessHeartbeat.objects.filter(name="beat").exists(), timeout=60, what="beat's heartbeat")
    finally:
        if beat is not None:
            beat.stop()
        worker.stop()
        shutil.rmtree(METRICS_ROOT / f"celery-{worker.pid}", ignore_errors=True)
        purge_broker()
    assert ProcessHeartbeat.objects.get(name__startswith="celery@").state == "stopped"
