"""The web and api processes' heartbeats: a thread of the serving process records one every few seconds.

daphne (``web``) and each gunicorn worker (``api``) start it when they load the application
(``tradeconsole.asgi``, ``tradeconsole.wsgi``); the Desk's process list and ``/health/detailed``
read the row as they read every other process's. A heartbeat says the process runs and reaches
PostgreSQL; a request it cannot serve shows in its own log and metrics.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime

from django.db import close_old_connections, connection
from django.utils import timezone

from streams.services import heartbeat_record

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
_running: dict[str, threading.Event] = {}
_failing: set[str] = set()


def serving_heartbeat_record(*, name: str, started_at: datetime) -> bool:
    """Record one heartbeat of the serving process ``name``; return whether it was recorded.

    A database error is logged and the connection dropped (the next beat opens a fresh one),
    never raised: the server keeps serving while PostgreSQL is away, and its row grows stale.
    """
    try:
        heartbeat_record(name=name, started_at=started_at, state="running", detail=f"pid {os.getpid()}")
    except Exception:
        # One warning with its traceback per outage, not one every few seconds while it lasts.
        first = name not in _failing
        _failing.add(name)
        logger.log(
            logging.WARNING if first else logging.DEBUG, "could not record the %s heartbeat", name, exc_info=first
        )
        close_old_connections()
        return False
    if name in _failing:
        _failing.discard(name)
        logger.info("the %s heartbeat is recorded again", name)
    return True


def serving_heartbeat_start(name: str, *, every: float = HEARTBEAT_SECONDS) -> threading.Event:
    """Record ``name``'s heartbeat now and every ``every`` seconds on a daemon thread, once per process.

    Returns the event that stops the thread (set it to stop).
    """
    if name in _running:
        return _running[name]
    stop = _running[name] = threading.Event()
    started_at = timezone.now()

    def beat() -> None:
        try:
            while True:
                serving_heartbeat_record(name=name, started_at=started_at)
                if stop.wait(every):
                    return
        finally:
            connection.close()  # this thread's own connection

    threading.Thread(target=beat, name=f"{name}-heartbeat", daemon=True).start()
    return stop
