"""Fixtures for the worker tests: a real Redis client on the worker's own db, a unique key prefix,
the paper TWS and the test's command/event bus."""

from __future__ import annotations

import uuid

import pytest
import redis

from execution_worker.config import WorkerConfig
from execution_worker.store import OrderRecord
from execution_worker.tests.harness import ACCOUNT, CLIENT_ID, REDIS_URL, SENT_COID, Bus, WorkerProcess, wait_until
from execution_worker.worker import Worker
from tws_simulator import Simulator, SimulatorConfig


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client):
    """A key prefix used by this test only; its keys are deleted afterwards."""
    name = f"tcwt{uuid.uuid4().hex[:10]}"
    yield name
    keys = list(redis_client.scan_iter(match=f"{name}:*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture
def sim():
    """The paper TWS on a free port, one account, no market data ticking."""
    simulator = Simulator(SimulatorConfig(host="127.0.0.1", port=0, accounts=[ACCOUNT], seed=1, market_interval=0))
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def bus(redis_client, prefix):
    """The test's view of the streams, with limits wide enough for any order a test places."""
    bus = Bus(redis_client, prefix)
    bus.set_limits(max_order_quantity=100_000)
    return bus


@pytest.fixture
def start_worker(sim, prefix):
    """Start ``python -m execution_worker`` processes against ``sim`` (optionally with a fault point);
    each start waits until the worker reports ready. All are closed at the end."""
    started: list[WorkerProcess] = []

    def start(bus: Bus, faultpoint: str = "") -> WorkerProcess:
        ready_before = bus.count_ready()
        worker = WorkerProcess(
            redis_url=REDIS_URL, prefix=prefix, port=sim.port, client_id=CLIENT_ID, faultpoint=faultpoint
        )
        started.append(worker)
        try:
            wait_until(lambda: bus.count_ready() > ready_before, 15, what="worker ready")
        except AssertionError:
            raise AssertionError(worker.output())
        return worker

    yield start
    for worker in started:
        worker.close()


@pytest.fixture
def worker_in_process(sim, prefix):
    """A Worker object whose loops the test drives itself (no threads started)."""
    config = WorkerConfig(redis_url=REDIS_URL, tws_port=sim.port, tws_client_id=CLIENT_ID + 1, prefix=prefix)
    config.apply_fast_timers()
    worker = Worker(config)
    worker.load()
    yield worker
    if worker.connection is not None:
        worker.connection.close()
    worker.redis.close()
    worker.command_redis.close()


@pytest.fixture
def callback_worker(prefix):
    """A Worker fed callbacks by the test (no TWS, no threads), holding one sent order (``SENT_COID``, orderId 5)."""
    config = WorkerConfig(redis_url=REDIS_URL, prefix=prefix, tws_client_id=7)
    worker = Worker(config)
    worker.generation = 1
    record = OrderRecord(
        client_order_id=SENT_COID, account="DU1", symbol="AAPL", side="BUY", quantity="10", order_type="MKT", order_id=5
    )
    record.state = "sent"
    worker.book.records[SENT_COID] = record
    worker.book.by_order_id[5] = SENT_COID
    yield worker
    worker.redis.close()
    worker.command_redis.close()
