"""The token bucket: never more than capacity + rate messages in any rolling second."""

from __future__ import annotations

import time

import pytest

from execution_worker.pacing import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_banked_tokens_go_at_once_then_one_per_interval():
    clock = FakeClock()
    bucket = TokenBucket(rate=45, capacity=4, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [0.0] * 4
    wait = bucket.try_acquire()
    assert wait == pytest.approx(1 / 45)
    clock.now += wait
    assert bucket.try_acquire() == 0.0


def test_no_rolling_second_carries_more_than_fifty_messages_at_full_demand():
    bucket = TokenBucket(rate=45, capacity=4)
    stamps = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        bucket.acquire()
        stamps.append(time.monotonic())
    worst = max(sum(1 for t in stamps if s <= t < s + 1.0) for s in stamps)
    assert 45 <= worst <= 50


def test_acquire_reports_the_wait_and_times_out():
    bucket = TokenBucket(rate=10, capacity=1)
    assert bucket.acquire() < 0.01
    assert 0.05 < bucket.acquire() < 0.2
    bucket.drain()
    with pytest.raises(TimeoutError):
        bucket.acquire(timeout=0.01)
