"""``manage.py marketdata``: the market-data process (Procfile: marketdata), every loop of
``marketdata.loops.process_loops`` in a thread, a heartbeat, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from marketdata import sessions
from marketdata.loops import process_loops
from streams.metrics import ProcessFigures
from streams.services import heartbeat_record
from tradeconsole import metrics
from tradeconsole.celery import freeze_startup_objects

logger = logging.getLogger("marketdata.process")

HEARTBEAT = "marketdata"
HEARTBEAT_SECONDS = 5.0


class Command(BaseCommand):
    help = "Build bars from the tick streams and run the broker's history (Procfile: marketdata)."

    def handle(self, *args, **options) -> None:
        stop = threading.Event()

        def on_signal(signum, frame) -> None:
            logger.info("signal %s: stopping after the current step", signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        started_at = datetime.now(UTC)
        loops = process_loops()
        # The calendar (forty years of sessions) and what Django loaded live as long as the process;
        # unfrozen, each full collection scanned them all: pauses of 0.4-1 s in the bar builder on a
        # busy machine, every bar update waiting (bench market_topics).
        sessions.calendar(settings.MARKETDATA_CALENDAR)
        freeze_startup_objects()
        threads = [threading.Thread(target=_closing(loop.run, stop), name=name, daemon=True) for name, loop in loops]
        for thread in threads:
            thread.start()

        def figures() -> dict:
            return {name: loop.figures() for name, loop in loops if hasattr(loop, "figures")}

        # The heartbeat's figures, one gauge each (TRADECONSOLE_MARKETDATA_METRICS_PORT).
        server = metrics.serve("marketdata", collectors=[ProcessFigures("marketdata", figures)])
        self.stdout.write(f"marketdata running: {', '.join(name for name, _ in loops)}", ending="\n")
        self.stdout.flush()
        while True:
            try:
                heartbeat_record(name=HEARTBEAT, started_at=started_at, state="running", detail="", data=figures())
            except Exception:
                logger.warning("could not record the marketdata heartbeat", exc_info=True)
                close_old_connections()
            if not all(thread.is_alive() for thread in threads):
                logger.error("a marketdata thread died; exiting so the supervisor restarts it")
                stop.set()
            if stop.wait(HEARTBEAT_SECONDS):
                break
        for thread in threads:
            thread.join(10)
        if server is not None:
            server.shutdown()
        try:
            heartbeat_record(name=HEARTBEAT, state="stopped", detail="")
        except Exception:
            logger.warning("could not record the marketdata stop", exc_info=True)
        self.stdout.write("marketdata stopped")


def _closing(run, stop: threading.Event):
    def target() -> None:
        try:
            run(stop)
        finally:
            close_old_connections()

    return target
