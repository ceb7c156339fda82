"""``manage.py strategy_runner``: the strategy runner process (Procfile: runner).

Runs ``strategies.runtime.runner.Runner`` on the desk's Redis and PostgreSQL with a heartbeat
(its figures on the desk watch), and stops cleanly on SIGTERM/SIGINT, giving its leases back so
another runner takes the sessions over at once. Several may run side by side: they share the
running sessions through leases in PostgreSQL. It lives in ``streams`` beside the stream bridge
because it is a process that glues Redis streams to the domain (and ``strategies`` may not
import ``streams``' Redis client and heartbeat service).
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import asdict
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from strategies.runner import Runner
from strategies.services import session_runs
from streams.metrics import ProcessFigures
from streams.redis_client import get_redis
from streams.services import heartbeat_record
from tradeconsole import metrics

logger = logging.getLogger("strategies.runner")
HEARTBEAT_SECONDS = 5.0


class Command(BaseCommand):
    help = "Run every running strategy session this process holds a lease on (Procfile: runner)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", default="runner", help="This runner's name on the desk watch (one per runner)")
        parser.add_argument("--capacity", type=int, default=settings.STRATEGY_RUNNER_CAPACITY)
        parser.add_argument("--poll", type=float, default=0.5, help="Seconds between lease and control rounds")
        parser.add_argument("--lease", type=float, default=5.0, help="Seconds a lease lasts unless renewed")
        parser.add_argument(
            "--metrics-port",
            type=int,
            default=None,
            help="Loopback port of this runner's metrics (default TRADECONSOLE_RUNNER_METRICS_PORT; 0: none)",
        )

    def handle(self, *args, **options) -> None:
        stop = threading.Event()

        def on_signal(signum, frame) -> None:
            logger.info("signal %s: stopping after the current round", signum)
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        runner = Runner(
            client=get_redis(),
            prefix=settings.STREAM_PREFIX,
            owner=f"{options['name']}:{session_runs.runner_name()}",
            capacity=options["capacity"],
            poll=options["poll"],
            lease_seconds=options["lease"],
        )
        name = options["name"]
        started_at = datetime.now(UTC)
        thread = threading.Thread(target=_closing(runner.run, stop), name="runner", daemon=True)
        thread.start()

        def figures() -> dict:
            return {k: v for k, v in asdict(runner.figures).items() if k != "errors"}

        server = metrics.serve(
            "runner",
            port=options["metrics_port"],
            collectors=[ProcessFigures("runner", figures, labels={"runner": name})],
        )
        self.stdout.write(f"strategy runner {runner.owner} running")
        self.stdout.flush()
        while True:
            try:
                heartbeat_record(name=name[:64], started_at=started_at, state="running", detail="", data=figures())
            except Exception:
                logger.warning("could not record the runner heartbeat", exc_info=True)
                close_old_connections()
            if not thread.is_alive():
                logger.error("the runner thread died; exiting so the supervisor restarts it")
                stop.set()
            if stop.wait(HEARTBEAT_SECONDS):
                break
        thread.join(10)
        if server is not None:
            server.shutdown()
        try:
            heartbeat_record(name=name[:64], state="stopped", detail="")
        except Exception:
            logger.warning("could not record the runner stop", exc_info=True)
        self.stdout.write("strategy runner stopped")


def _closing(run, stop: threading.Event):
    def target() -> None:
        try:
            run(stop)
        finally:
            close_old_connections()

    return target
