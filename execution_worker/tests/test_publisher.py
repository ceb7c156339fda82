"""The event publisher: a batch Redis refused is written again before anything newer, and only once."""

from __future__ import annotations

import queue

import pytest
import redis

from execution_worker import messages as m
from execution_worker.tests.harness import publish_all


class _InterleavingQueue(queue.SimpleQueue):
    """A queue where, once armed, the next put is overtaken by ``intruder`` (a callback thread's emit
    landing between the publisher's steps)."""

    armed = None

    def put(self, item, block=True, timeout=None):
        intruder, self.armed = self.armed, None
        if intruder is not None:
            super().put(intruder)
        super().put(item)


def test_a_failed_publish_batch_is_written_before_newer_events_and_only_once(worker_in_process, bus):
    worker = worker_in_process
    worker.publisher.queue = _InterleavingQueue()
    older = [m.GatewayStatus(state="connecting", detail=f"older {i}") for i in range(3)]
    newer = m.GatewayStatus(state="connecting", detail="newer")
    for message in older:
        worker.emit(message)
    good, worker.publisher.redis = (
        worker.publisher.redis,
        redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2),
    )
    try:
        worker.publisher.queue.armed = ("xadd", bus.names.events, m.encode(newer), 0)
        with pytest.raises(redis.RedisError):
            worker.publish_step(0.01)
        if worker.publisher.queue.armed is not None:  # the publisher did not touch the queue: emit it now
            worker.publisher.queue.armed = None
            worker.emit(newer)
    finally:
        worker.publisher.redis.close()
        worker.publisher.redis = good
    publish_all(worker)
    details = [e.detail for e in bus.events("gateway.status")]
    assert details == ["older 0", "older 1", "older 2", "newer"]
