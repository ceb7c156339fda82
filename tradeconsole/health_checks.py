"""The desk's detailed health: each dependency and process with its state and age, and one verdict.

A check's state is ``ok``, ``warn`` (working, not as it should: the gateway reconnecting, the bridge
lagging) or ``fail``. The verdict is ``down`` when a check of ``settings.HEALTH_ESSENTIAL`` fails
(readiness then answers 503), ``degraded`` when any other check is not ok, else ``ok``.
Processes are judged by their heartbeats (``accounts.ProcessHeartbeat``): older than
``MONITOR_HEARTBEAT_MAX_AGE_SECONDS``, or stopped, is a failure.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.utils import timezone

from accounts.models import OutboxMessage, ProcessHeartbeat
from execution_worker.messages import EVENTS_GROUP, StreamNames
from orders.monitoring.alerts import _group_lag as group_lag
from tradeconsole import db

OK, WARN, FAIL = "ok", "warn", "fail"
# Processes judged when they have ever beaten: a desk without strategies runs no runner.
OPTIONAL_PROCESSES = ("marketdata", "runner")
CELERY_PREFIX = "celery@"


def _check(state: str, *, age: float | None = None, detail: str = "", **data) -> dict:
    check = {"state": state, "ok": state != FAIL, "age_s": None if age is None else round(age, 3), "detail": detail}
    check.update(data)
    return check


def database_check() -> dict:
    """PostgreSQL answers ``SELECT 1``."""
    started = time.perf_counter()
    try:
        db.ping()
    except Exception as exc:  # any driver error means the database is not there
        return _check(FAIL, detail="the database does not answer", error=exc.__class__.__name__)
    return _check(OK, age=0.0, ms=round((time.perf_counter() - started) * 1000, 2))


def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)


def redis_check(client: redis.Redis | None = None) -> dict:
    """Redis (``client``, else one made for the call from ``REDIS_URL``) answers PING."""
    own = client is None
    client = client or _redis_client()
    started = time.perf_counter()
    try:
        client.ping()
    except Exception as exc:  # any client error means Redis is not there
        return _check(FAIL, detail="Redis does not answer", error=exc.__class__.__name__)
    finally:
        if own:
            client.close()
    return _check(OK, age=0.0, ms=round((time.perf_counter() - started) * 1000, 2))


def _max_age() -> timedelta:
    return timedelta(seconds=settings.MONITOR_HEARTBEAT_MAX_AGE_SECONDS)


def _beat_check(beat: ProcessHeartbeat | None, now: datetime, *, max_age: timedelta | None = None) -> dict:
    """Fresh and not stopped: ok; else a failure naming how old the last beat is."""
    max_age = max_age or _max_age()
    if beat is None:
        return _check(FAIL, detail="never seen")
    age = (now - beat.last_seen_at).total_seconds()
    if beat.state == "stopped":
        return _check(FAIL, age=age, detail="stopped")
    if age > max_age.total_seconds():
        return _check(FAIL, age=age, detail=f"no heartbeat for over {max_age.total_seconds():.0f} s")
    return _check(OK, age=age)


def execution_check(beat: ProcessHeartbeat | None, now: datetime) -> dict:
    """The worker beats and its gateway is ready; reconnecting or reconciling is a warning, disconnected a failure."""
    check = _beat_check(beat, now)
    if beat is None:
        return check
    check["gateway"] = beat.state
    if check["state"] == OK and beat.state != "ready":
        check["state"] = FAIL if beat.state in ("disconnected", "") else WARN
        check["ok"] = check["state"] != FAIL
        check["detail"] = f"gateway {beat.state or 'unknown'}: {beat.detail}".strip(": ")
    return check


def bridge_check(beat: ProcessHeartbeat | None, now: datetime, client: redis.Redis | None) -> dict:
    """The bridge beats and reads the worker's events within ``MONITOR_STREAM_LAG_MAX`` entries."""
    check = _beat_check(beat, now)
    lag = group_lag(client, StreamNames(settings.STREAM_PREFIX).events, EVENTS_GROUP) if client else None
    check["lag"] = lag
    if check["state"] == OK and lag is not None and lag > settings.MONITOR_STREAM_LAG_MAX:
        check.update(state=WARN, detail=f"{lag} events behind")
    return check


def relay_check(beat: ProcessHeartbeat | None, now: datetime) -> dict:
    """The relay beats and no command waits in the outbox longer than ``MONITOR_OUTBOX_MAX_AGE_SECONDS``."""
    check = _beat_check(beat, now)
    waiting = OutboxMessage.objects.filter(published_at__isnull=True)
    oldest = waiting.order_by("id").values_list("created_at", flat=True).first()
    backlog_age = (now - oldest).total_seconds() if oldest is not None else 0.0
    check["outbox_age_s"] = round(backlog_age, 3)
    if check["state"] == OK and backlog_age > settings.MONITOR_OUTBOX_MAX_AGE_SECONDS:
        check.update(state=FAIL, ok=False, detail=f"commands wait in the outbox for {backlog_age:.0f} s")
    return check


def celery_check(beats: dict[str, ProcessHeartbeat], now: datetime) -> dict:
    """At least one Celery worker beats (``celery@<host>`` rows, ``tradeconsole.celery_metrics``)."""
    workers = [beat for name, beat in beats.items() if name.startswith(CELERY_PREFIX)]
    fresh = [beat for beat in workers if _beat_check(beat, now)["state"] == OK]
    if fresh:
        age = min((now - beat.last_seen_at).total_seconds() for beat in fresh)
        return _check(OK, age=age, workers=sorted(beat.name for beat in fresh))
    age = min(((now - beat.last_seen_at).total_seconds() for beat in workers), default=None)
    return _check(FAIL, age=age, detail="no Celery worker beats", workers=[])


def health_report(*, now: datetime | None = None) -> dict:
    """Check every dependency and process now; return ``{"verdict", "checks": {name: check}}``."""
    now = now or timezone.now()
    checks = {"database": database_check()}
    client = _redis_client()
    try:
        checks["redis"] = redis_check(client)
        if checks["database"]["state"] == FAIL:
            unknown = _check(FAIL, detail="unknown: the database does not answer")
            for name in ("execution", "bridge", "relay", "beat", "celery", "monitor"):
                checks[name] = dict(unknown)
        else:
            checks.update(_process_checks(now, client if checks["redis"]["state"] == OK else None))
    finally:
        client.close()
    essential = set(settings.HEALTH_ESSENTIAL)
    if any(check["state"] == FAIL for name, check in checks.items() if name in essential):
        verdict = "down"
    elif any(check["state"] != OK for check in checks.values()):
        verdict = "degraded"
    else:
        verdict = "ok"
    return {"verdict": verdict, "at": now.isoformat(), "checks": checks}


def _process_checks(now: datetime, client: redis.Redis | None) -> dict[str, dict]:
    beats = {beat.name: beat for beat in ProcessHeartbeat.objects.all()}
    # Beat publishes every scheduler tick and the monitor runs every interval: a few missed periods
    # is a failure, however short the periods are.
    monitor_age = timedelta(
        seconds=max(settings.MONITOR_HEARTBEAT_MAX_AGE_SECONDS, 3 * settings.MONITOR_INTERVAL_SECONDS)
    )
    checks = {
        "execution": execution_check(beats.get("execution"), now),
        "bridge": bridge_check(beats.get("bridge"), now, client),
        "relay": relay_check(beats.get("relay"), now),
        "beat": _beat_check(beats.get("beat"), now),
        "celery": celery_check(beats, now),
        "monitor": _beat_check(beats.get("monitor"), now, max_age=monitor_age),
    }
    for name in OPTIONAL_PROCESSES:
        if name in beats:
            checks[name] = _beat_check(beats[name], now)
    return checks
