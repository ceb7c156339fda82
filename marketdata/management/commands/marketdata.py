"""``manage.py marketdata``: the market-data process (Procfile: marketdata), every loop of
``marketdata.loops.process_loops`` in a thread, a heartbeat, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from marketdata import sessions
from marketdata.loops import process_loops
from streams import process_life
from tradeconsole.startup_memory import freeze_startup_objects

logger = logging.getLogger("marketdata.process")

HEARTBEAT = "marketdata"


class Command(BaseCommand):
    help = "Build bars from the tick streams and run the broker's history (Procfile: marketdata)."

    def handle(self, *args, **options) -> None:
        stop = process_life.stop_on_signals(logger)
        loops = process_loops()
        # The calendar (forty years of sessions) and what Django loaded live as long as the process;
        # unfrozen, each full collection scanned them all: pauses of 0.4-1 s in the bar builder on a
        # busy machine, every bar update waiting (bench market_topics).
        sessions.calendar(settings.MARKETDATA_CALENDAR)
        freeze_startup_objects()

        def figures() -> dict:
            return {name: loop.figures() for name, loop in loops if hasattr(loop, "figures")}

        # The heartbeat's figures, one gauge each (TRADECONSOLE_MARKETDATA_METRICS_PORT).
        process_life.live(
            name=HEARTBEAT,
            loops=[(name, loop.run) for name, loop in loops],
            figures=figures,
            stop=stop,
            logger=logger,
            metrics_name="marketdata",
            say=lambda line: (self.stdout.write(line), self.stdout.flush()),
        )
