"""Liveness and readiness probes, answered as JSON."""

from __future__ import annotations

import time

import redis
from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tradeconsole import db


@never_cache
@require_GET
def live(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


def _check_database() -> dict:
    started = time.perf_counter()
    try:
        db.ping()
    except Exception as exc:  # any driver error means "not ready"
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _check_redis() -> dict:
    started = time.perf_counter()
    try:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any client error means "not ready"
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


@never_cache
@require_GET
def ready(request):
    """The database and Redis both answer; 503 with the failing part otherwise."""
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )
