"""The life of a long-running Django process (marketdata, the strategy runner): its loops in
threads, a heartbeat with its figures, its metrics port, and a clean stop on SIGTERM/SIGINT.

One piece for every such process: the loops run until the stop event; a loop thread that dies
stops the process so the supervisor restarts it; the heartbeat says ``running`` every few
seconds and ``stopped`` on the way out.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from django.db import close_old_connections

from streams.metrics import ProcessFigures
from streams.services import heartbeat_record
from tradeconsole import metrics

HEARTBEAT_SECONDS = 5.0


def stop_on_signals(logger: logging.Logger) -> threading.Event:
    """An event set by SIGTERM or SIGINT (the process then stops after its loops' current step)."""
    stop = threading.Event()

    def on_signal(signum, frame) -> None:
        logger.info("signal %s: stopping after the current step", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def live(
    *,
    name: str,
    loops: list[tuple[str, Callable[[threading.Event], None]]],
    figures: Callable[[], dict],
    stop: threading.Event,
    logger: logging.Logger,
    metrics_name: str,
    metrics_port: int | None = None,
    metrics_labels: dict | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Run each of ``loops`` (thread name, ``run(stop)``) in a thread until ``stop`` is set, with the
    heartbeat ``name`` carrying ``figures()`` and the figures as gauges on the process's metrics port.

    Returns once every loop has stopped (10 s each at most) and the ``stopped`` heartbeat is written.
    """
    started_at = datetime.now(UTC)
    threads = [threading.Thread(target=_closing(run, stop), name=thread, daemon=True) for thread, run in loops]
    for thread in threads:
        thread.start()
    server = metrics.serve(
        metrics_name,
        port=metrics_port,
        collectors=[ProcessFigures(metrics_name, figures, labels=metrics_labels)],
    )
    say(f"{name} running: {', '.join(thread for thread, _ in loops)}")
    while True:
        try:
            heartbeat_record(name=name[:64], started_at=started_at, state="running", detail="", data=figures())
        except Exception:
            logger.warning("could not record the %s heartbeat", name, exc_info=True)
            close_old_connections()
        if not all(thread.is_alive() for thread in threads):
            logger.error("a %s thread died; exiting so the supervisor restarts it", name)
            stop.set()
        if stop.wait(HEARTBEAT_SECONDS):
            break
    for thread in threads:
        thread.join(10)
    if server is not None:
        server.shutdown()
    try:
        heartbeat_record(name=name[:64], state="stopped", detail="")
    except Exception:
        logger.warning("could not record the %s stop", name, exc_info=True)
    say(f"{name} stopped")


def _closing(run: Callable[[threading.Event], None], stop: threading.Event) -> Callable[[], None]:
    def target() -> None:
        try:
            run(stop)
        finally:
            close_old_connections()

    return target
