"""Celery's metrics and heartbeats: task durations and failures by task, beat's and each worker's sign of life.

Connected to Celery's signals when the apps are ready (``streams.apps``). Tasks run in the prefork
pool's children, which write their series into the worker's multiprocess directory (set by the
settings: ``tradeconsole.metrics_dir``); the worker's parent serves their sum on
``settings.METRICS_PORTS["celery"]``. Beat records a
``beat`` heartbeat when it publishes, each worker a ``celery@<host>`` heartbeat every few seconds:
``/health/detailed`` reads both.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from celery.signals import (
    beat_init,
    before_task_publish,
    task_failure,
    task_postrun,
    task_prerun,
    worker_ready,
    worker_shutdown,
)
from django.conf import settings
from django.db import close_old_connections

from streams.services import heartbeat_record
from tradeconsole import metrics

logger = logging.getLogger("streams.celery_signals")

HEARTBEAT_SECONDS = 5.0
# Celery's tasks run from milliseconds (scheduled firing) to minutes (backtests).
TASK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, float("inf"))

_started: dict[str, float] = {}
_series = None
_series_lock = threading.Lock()
_beat = {"on": False, "last": 0.0}
_worker_stop = threading.Event()
_worker: dict[str, str] = {}


def _enabled() -> bool:
    return settings.METRICS


def series():
    """The task series, made on first use (after the multiprocess directory is set)."""
    global _series
    with _series_lock:
        if _series is None:
            _series = _make_series()
    return _series


def _make_series():
    from prometheus_client import Counter, Histogram

    return (
        Histogram(
            "tradeconsole_celery_task_duration_seconds",
            "Time a Celery task ran, by task and final state.",
            ["task", "state"],
            buckets=TASK_BUCKETS,
        ),
        Counter("tradeconsole_celery_task_failures_total", "Celery tasks that raised, by task.", ["task"]),
    )


@task_prerun.connect
def _task_started(task_id=None, **kwargs) -> None:
    if task_id and _enabled():
        _started[task_id] = time.perf_counter()


@task_postrun.connect
def _task_finished(task_id=None, task=None, state=None, **kwargs) -> None:
    started = _started.pop(task_id, None) if task_id else None
    if started is None:
        return
    duration, _failures = series()
    duration.labels(task=getattr(task, "name", "unknown"), state=state or "UNKNOWN").observe(
        time.perf_counter() - started
    )


@task_failure.connect
def _task_failed(sender=None, **kwargs) -> None:
    if _enabled():
        series()[1].labels(task=getattr(sender, "name", "unknown")).inc()


@beat_init.connect
def _beat_started(**kwargs) -> None:
    _beat["on"] = True


@before_task_publish.connect
def _beat_published(sender=None, **kwargs) -> None:
    """In beat only: a publish is beat's run; record it at most every ``HEARTBEAT_SECONDS``."""
    if not _beat["on"]:
        return
    now = time.monotonic()
    if now - _beat["last"] < HEARTBEAT_SECONDS:
        return
    _beat["last"] = now
    beat_heartbeat_record(task=str(sender or ""))


def beat_heartbeat_record(*, task: str) -> None:
    """Record beat's ``beat`` heartbeat (the task it last published); a database error is logged, never raised."""
    try:
        heartbeat_record(name="beat", state="running", detail=f"published {task}"[:255])
    except Exception:
        # Beat keeps publishing without the database; /health/detailed sees the heartbeat age.
        logger.warning("could not record the beat heartbeat", exc_info=True)
        close_old_connections()


def worker_heartbeat_record(hostname: str, *, state: str = "running") -> None:
    """Record the ``celery@<host>`` heartbeat of one Celery worker; a database error is logged, never raised."""
    name = hostname if hostname.startswith("celery@") else f"celery@{hostname}"
    try:
        heartbeat_record(name=name[:64], state=state, detail="")
    except Exception:
        logger.warning("could not record the %s heartbeat", name, exc_info=True)
        close_old_connections()


@worker_ready.connect
def _worker_started(sender=None, **kwargs) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    _worker["hostname"] = hostname
    metrics.serve("celery")

    def beat() -> None:
        while not _worker_stop.wait(HEARTBEAT_SECONDS):
            worker_heartbeat_record(hostname)

    worker_heartbeat_record(hostname)
    _worker_stop.clear()
    threading.Thread(target=beat, name="celery-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _worker_stopping(**kwargs) -> None:
    _worker_stop.set()
    if _worker.get("hostname"):
        worker_heartbeat_record(_worker["hostname"], state="stopped")
