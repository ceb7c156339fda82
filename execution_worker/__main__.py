"""``python -m execution_worker``: run the worker until SIGTERM or SIGINT, then shut down cleanly."""

from __future__ import annotations

import gc
import logging
import os
import signal
import sys

import logclock
from execution_worker.config import ConfigError, WorkerConfig
from execution_worker.redis_access import redis_access_check
from execution_worker.worker import Worker


def main(argv: list[str] | None = None) -> int:
    # One clock with every other process: UTC with the zone written (logclock).
    logclock.configure(
        os.environ.get("TC_WORKER_LOG_LEVEL", "INFO"), "%(asctime)s %(levelname)s %(name)s %(threadName)s: %(message)s"
    )
    try:
        config = WorkerConfig.from_env(argv)
        # A refused password is a setting to fix, not an outage to wait out.
        redis_access_check(config.redis_url)
    except ConfigError as error:
        print(f"execution_worker: {error}", file=sys.stderr)
        return 2
    # Latency: a thread woken by the command socket should get the GIL within 0.5 ms, not the default
    # 5 ms switch interval, when an ibapi or publisher thread is busy.
    sys.setswitchinterval(0.0005)
    worker = Worker(config)

    def request_stop(signum, _frame) -> None:
        logging.getLogger("execution_worker").info("signal %d: shutting down", signum)
        worker.shutdown.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    worker.start()
    if worker.metrics is not None and config.metrics_port:
        worker.metrics.serve(config.metrics_port)
    # What is loaded at start lives for the whole run: keep it out of the collector's scans, and
    # collect the young generation less often so pauses do not land on the order path.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    while not worker.shutdown.wait(0.5):
        pass
    worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
