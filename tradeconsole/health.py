"""Liveness, readiness and detailed health probes, answered as JSON."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from tradeconsole.health_checks import health_report


@never_cache
@require_GET
def live(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request):
    """Ready unless the detailed verdict is ``down`` (an essential dependency fails): then 503.

    A degraded desk (a process stale, the gateway away) stays ready: the console is how the desk
    sees and fixes what is wrong.
    """
    report = health_report()
    healthy = report["verdict"] != "down"
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "verdict": report["verdict"], "checks": report["checks"]},
        status=200 if healthy else 503,
    )


@never_cache
@require_GET
def detailed(request):
    """Each dependency and process with its state and age, and the verdict; 503 unless the verdict is ok."""
    report = health_report()
    return JsonResponse(report, status=200 if report["verdict"] == "ok" else 503)
