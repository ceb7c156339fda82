"""The circuit breaker of the worker's TWS connects: it opens after failed connects in a row, holds the
attempts while open (published for the System page, served in the metrics), and a connect after the
timeout closes it."""

from __future__ import annotations

import json
import socket
import time

import pybreaker
from prometheus_client import generate_latest

from execution_worker.config import WorkerConfig
from execution_worker.connect_breaker import FAIL_MAX, NAME
from execution_worker.metrics import WorkerMetrics
from execution_worker.tests.harness import ACCOUNT, CLIENT_ID, REDIS_URL
from execution_worker.worker import Worker
from tws_simulator import Simulator, SimulatorConfig


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def step_now(worker) -> None:
    worker._next_attempt = 0.0  # the backoff's wait is not what is tested here
    worker.connection_step()


def published(redis_client, prefix: str) -> list[dict]:
    return [json.loads(raw) for raw in redis_client.hgetall(f"{prefix}:breakers").values()]


def test_the_connect_breaker_opens_holds_attempts_and_closes_on_a_connect(prefix, redis_client):
    port = free_port()
    config = WorkerConfig(redis_url=REDIS_URL, tws_port=port, tws_client_id=CLIENT_ID + 3, prefix=prefix)
    config.apply_fast_timers()
    worker = Worker(config)
    simulator = None
    try:
        for _ in range(FAIL_MAX - 1):
            step_now(worker)
        assert worker.connect_breaker.current_state == pybreaker.STATE_CLOSED
        step_now(worker)
        assert worker.connect_breaker.current_state == pybreaker.STATE_OPEN
        [state] = published(redis_client, prefix)
        assert (state["name"], state["state"], state["fail_max"]) == (NAME, "open", FAIL_MAX)
        assert state["process"].startswith("execution ")
        scraped = generate_latest(WorkerMetrics(worker).registry).decode()
        assert f'tradeconsole_circuit_breaker_state{{breaker="{NAME}"}} 2.0' in scraped

        # TWS is back, but the breaker holds the attempt until its timeout (the backoff's cap).
        simulator = Simulator(
            SimulatorConfig(host="127.0.0.1", port=port, accounts=[ACCOUNT], seed=1, market_interval=0)
        )
        simulator.start()
        step_now(worker)
        assert worker.connection is None and worker.state == "disconnected"

        time.sleep(config.backoff_max + 0.1)
        step_now(worker)
        assert worker.connection is not None and worker.ready.is_set()
        assert worker.connect_breaker.current_state == pybreaker.STATE_CLOSED
        assert [s["state"] for s in published(redis_client, prefix)] == ["closed"]
    finally:
        if worker.connection is not None:
            worker.connection.close()
        worker.redis.close()
        worker.command_redis.close()
        if simulator is not None:
            simulator.stop()
