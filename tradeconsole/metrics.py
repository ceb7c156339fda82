"""Prometheus exposition of the Django side: the /metrics view of web and api, a loopback port for
the other processes, and the shared metrics directory of a server that forks workers.

The series themselves live beside what they measure (``streams.metrics``, ``tradeconsole.celery_metrics``);
django-prometheus counts requests and latency by view in web and api.
"""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger("tradeconsole.metrics")


def registry():
    """The registry a scrape reads: the multiprocess sum under a forking server, else the process's own."""
    import prometheus_client
    from prometheus_client import multiprocess

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        collected = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(collected)
        return collected
    return prometheus_client.REGISTRY


def serve(process: str, *, port: int | None = None, collectors=()):
    """Serve this process's metrics on 127.0.0.1:``port`` (default: ``settings.METRICS_PORTS[process]``).

    What is served: under a forking server (Celery's pool) the sum of its workers; otherwise the
    process's own figures (CPU, memory, file descriptors) and ``collectors``, read at each scrape.
    Returns the server, or None when metrics are off, the port is 0 or taken (a second runner on one
    machine: give it ``--metrics-port``); a metrics port never stops a process of the desk.
    """
    port = settings.METRICS_PORTS.get(process, 0) if port is None else port
    if not settings.METRICS or not port:
        return None
    from prometheus_client import CollectorRegistry, GCCollector, ProcessCollector, start_http_server

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        served = registry()
    else:
        served = CollectorRegistry()
        ProcessCollector(registry=served)
        GCCollector(registry=served)
    for collector in collectors:
        served.register(collector)
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from tradeconsole.breakers import BreakerFigures

        served.register(BreakerFigures())  # this process's circuit breakers
    try:
        server, _thread = start_http_server(port, addr="127.0.0.1", registry=served)
    except OSError as error:
        logger.warning("%s: metrics not served on 127.0.0.1:%s (%s)", process, port, error)
        return None
    logger.info("%s: metrics on http://127.0.0.1:%s/metrics", process, port)
    return server


def _allowed(request) -> bool:
    if request.META.get("REMOTE_ADDR", "") in settings.METRICS_ALLOWED_ADDRESSES:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_staff)


@never_cache
@require_GET
def export(request):
    """The Prometheus text of this server (every worker of a forking one), to allowed addresses and staff.

    404 when metrics are off; 403 for anyone else, so the desk's figures are not public.
    """
    if not settings.METRICS:
        return HttpResponseNotFound("metrics are off (TRADECONSOLE_METRICS)")
    if not _allowed(request):
        return HttpResponseForbidden("metrics are served to the monitoring addresses and staff only")
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
