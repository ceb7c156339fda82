"""``manage.py stream_bridge``: the event bridge and the outbox relay in one process (or either alone)."""

from __future__ import annotations

import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from streams import live, publish
from streams.bridge import EventBridge
from streams.desk_watch import DeskWatch
from streams.market import MarketFeed
from streams.metrics import DeskFigures, StreamFigures
from streams.relay import RelayLoop
from streams.services import heartbeat_record
from tradeconsole import metrics

logger = logging.getLogger("streams.stream_bridge")


class Command(BaseCommand):
    help = "Apply the worker's events to the database and publish the outbox (Procfile: bridge)."

    def add_arguments(self, parser) -> None:
        only = parser.add_mutually_exclusive_group()
        only.add_argument("--relay-only", action="store_true", help="Run only the outbox relay.")
        only.add_argument("--bridge-only", action="store_true", help="Run only the event bridge.")
        parser.add_argument("--consumer", default="", help="Consumer name in group 'bridge' (default bridge-<host>).")
        parser.add_argument("--poll", type=float, default=0.5, help="Relay poll interval without a wake-up, s.")

    def handle(self, *args, relay_only: bool, bridge_only: bool, consumer: str, poll: float, **options) -> None:
        stop = threading.Event()

        def on_signal(signum, frame) -> None:
            logger.info("signal %s: stopping after the current step", signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        started = time.time()
        threads = []
        fanout = live.Fanout()
        # Every row this process shows goes through one sender, so its groups' messages stay in order.
        publish.use(fanout)
        names = []
        if not bridge_only:
            relay = RelayLoop(poll_seconds=poll, stop=stop)
            threads.append(threading.Thread(target=_closing(relay.run), name="relay", daemon=True))
            names.append("relay")
        bridge = None
        if not relay_only:
            bridge = EventBridge(stop=stop, **({"consumer": consumer} if consumer else {}))
            threads.append(threading.Thread(target=_closing(bridge.run), name="bridge", daemon=True))
            names.append("bridge")
            feed = MarketFeed(fanout, stop=stop)
            threads.append(threading.Thread(target=feed.run, name="market", daemon=True))
        for thread in threads:
            thread.start()
        # The streams, their groups, the outbox, this bridge's counts, the alerts and every heartbeat's
        # age (TRADECONSOLE_BRIDGE_METRICS_PORT).
        server = metrics.serve("bridge", collectors=[StreamFigures(bridge=bridge), DeskFigures()])
        self.stdout.write(f"stream_bridge running: {', '.join(names)}")
        from datetime import UTC, datetime

        started_at = datetime.fromtimestamp(started, tz=UTC)
        watch = DeskWatch(fanout)
        while not stop.wait(5.0):
            try:
                watch.step()
            except Exception:
                logger.warning("could not send the time-driven rows (stale prices, stream figures)", exc_info=True)
                close_old_connections()
            for name in names:
                try:
                    heartbeat_record(name=name, started_at=started_at, state="running", detail="")
                except Exception:
                    logger.warning("could not record the %s heartbeat", name, exc_info=True)
                    close_old_connections()
            if not all(thread.is_alive() for thread in threads):
                logger.error("a stream_bridge thread died; exiting so the supervisor restarts it")
                stop.set()
        for thread in threads:
            thread.join(5)
        if server is not None:
            server.shutdown()
        fanout.close()


def _closing(run):
    def target() -> None:
        try:
            run()
        finally:
            close_old_connections()

    return target
