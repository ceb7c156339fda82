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
from dataclasses import asdict

from django.conf import settings
from django.core.management.base import BaseCommand

from strategies.runner import Runner
from strategies.services import session_runs
from streams import process_life
from streams.redis_client import get_redis

logger = logging.getLogger("strategies.runner")


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
        stop = process_life.stop_on_signals(logger)
        runner = Runner(
            client=get_redis(),
            prefix=settings.STREAM_PREFIX,
            owner=f"{options['name']}:{session_runs.runner_name()}",
            capacity=options["capacity"],
            poll=options["poll"],
            lease_seconds=options["lease"],
        )
        name = options["name"]

        def figures() -> dict:
            return {k: v for k, v in asdict(runner.figures).items() if k != "errors"}

        self.stdout.write(f"strategy runner {runner.owner}")
        process_life.live(
            name=name,
            loops=[("runner", runner.run)],
            figures=figures,
            stop=stop,
            logger=logger,
            metrics_name="runner",
            metrics_port=options["metrics_port"],
            metrics_labels={"runner": name},
            say=lambda line: (self.stdout.write(line), self.stdout.flush()),
        )
