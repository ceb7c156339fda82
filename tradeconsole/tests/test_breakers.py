"""Circuit breakers (tradeconsole.breakers): opening after N failures, failing fast while open, half-open
after the timeout, closing on success; around Redis from the web processes; on the System page and in metrics."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime

import pytest
import redis
import time_machine
from prometheus_client import CollectorRegistry, generate_latest

from tradeconsole import breakers

START = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def tuning(settings):
    settings.BREAKER_FAIL_MAX = 3
    settings.BREAKER_RESET_SECONDS = 30
    settings.BREAKERS = {}


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def dead_redis_url():
    """A Redis URL where nothing listens: every call is refused, as when Redis is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


class Target:
    """A target that fails (a real refused connection) until told to answer."""

    def __init__(self, url: str) -> None:
        self.calls = 0
        self.answering = False
        self.dead = redis.Redis.from_url(url, socket_connect_timeout=0.5)

    def __call__(self) -> str:
        self.calls += 1
        if self.answering:
            return "ok"
        return self.dead.ping()


def test_a_breaker_opens_after_fail_max_failures_fails_fast_then_half_opens_and_closes_on_success(
    dead_redis_url, clock
):
    target = Target(dead_redis_url)
    guard = breakers.breaker("target")
    for _ in range(2):
        with pytest.raises(redis.ConnectionError):
            guard.call(target)
        assert guard.current_state == breakers.CLOSED
    # The third failure trips it, and re-raises the call's own error.
    with pytest.raises(redis.ConnectionError):
        guard.call(target)
    assert guard.current_state == breakers.OPEN and target.calls == 3

    # Open: the target is not called at all.
    with pytest.raises(breakers.BreakerOpen):
        guard.call(target)
    clock.shift(29)
    with pytest.raises(breakers.BreakerOpen):
        guard.call(target)
    assert target.calls == 3

    # After the reset timeout one trial call goes through; its failure opens the breaker again.
    clock.shift(2)
    with pytest.raises(redis.ConnectionError):
        guard.call(target)
    assert target.calls == 4 and guard.current_state == breakers.OPEN
    with pytest.raises(breakers.BreakerOpen):
        guard.call(target)

    # Another timeout later the trial succeeds: closed, and the count starts over.
    clock.shift(31)
    target.answering = True
    assert guard.call(target) == "ok"
    assert guard.current_state == breakers.CLOSED and guard.fail_counter == 0


def test_the_trial_call_runs_half_open(clock, settings):
    settings.BREAKER_FAIL_MAX = 1
    guard = breakers.breaker("target")
    with pytest.raises(ZeroDivisionError):
        guard.call(lambda: 1 / 0)
    clock.shift(31)
    seen = []
    guard.call(lambda: seen.append(guard.current_state))
    assert seen == [breakers.HALF_OPEN] and guard.current_state == breakers.CLOSED


def test_settings_tune_each_breaker_by_name(settings):
    settings.BREAKERS = {"smtp": {"fail_max": 7, "reset_timeout": 120}}
    assert (breakers.breaker("smtp").fail_max, breakers.breaker("smtp").reset_timeout) == (7, 120)
    assert (breakers.breaker("other").fail_max, breakers.breaker("other").reset_timeout) == (3, 30)
    assert breakers.breaker("smtp") is breakers.breaker("smtp")


def test_the_redis_breaker_counts_outages_only_not_refusals(dead_redis_url, redis_client):
    guard = breakers.redis_breaker()
    for _ in range(5):
        with pytest.raises(redis.ResponseError):
            guard.call(redis_client.execute_command, "NO-SUCH-COMMAND")
    assert guard.current_state == breakers.CLOSED and guard.fail_counter == 0
    dead = redis.Redis.from_url(dead_redis_url)
    for _ in range(3):
        with pytest.raises(redis.ConnectionError):
            guard.call(dead.ping)
    assert guard.current_state == breakers.OPEN


def test_a_change_of_state_is_published_for_every_process_and_logged(dead_redis_url, redis_client, settings, caplog):
    redis_client.delete(breakers.breakers_key())
    target = Target(dead_redis_url)
    for _ in range(3):
        with pytest.raises(redis.ConnectionError):
            breakers.call("webhook:example", target)
    assert "circuit breaker webhook:example opened after 3 failures" in caplog.text
    published = {k: json.loads(v) for k, v in redis_client.hgetall(breakers.breakers_key()).items()}
    entry = published[f"webhook:example@{breakers.process_label()}"]
    assert entry["state"] == breakers.OPEN and entry["fail_max"] == 3

    # Another process's published breaker shows beside this process's own.
    other = {"name": "smtp", "state": "half-open", "process": "elsewhere:1", "since": time.time(), "failures": 0}
    redis_client.hset(breakers.breakers_key(), "smtp@elsewhere:1", json.dumps(other))
    stale = {**other, "process": "gone:2", "since": time.time() - 2 * breakers.PUBLISHED_MAX_AGE_S}
    redis_client.hset(breakers.breakers_key(), "smtp@gone:2", json.dumps(stale))
    seen = {(s["name"], s["process"], s["state"]) for s in breakers.breaker_states_everywhere(redis_client)}
    assert seen == {("smtp", "elsewhere:1", "half-open"), ("webhook:example", breakers.process_label(), "open")}
    redis_client.delete(breakers.breakers_key())


def test_the_metrics_carry_each_breakers_state():
    guard = breakers.breaker("target")
    breakers.breaker("calm")
    guard.open()
    registry = CollectorRegistry()
    registry.register(breakers.BreakerFigures())
    text = generate_latest(registry).decode()
    assert 'tradeconsole_circuit_breaker_state{breaker="target"} 2.0' in text
    assert 'tradeconsole_circuit_breaker_state{breaker="calm"} 0.0' in text


def test_the_web_processes_metrics_endpoint_carries_the_breakers(admin_client, settings):
    settings.METRICS = True
    breakers.breaker("target").open()
    text = admin_client.get("/metrics").content.decode()
    assert 'tradeconsole_circuit_breaker_state{breaker="target"} 2.0' in text


@pytest.mark.django_db
def test_an_engage_stops_waiting_on_redis_once_its_breaker_is_open(settings, dead_redis_url, account):
    from accounts.halt_barrier import WRITE_PAUSE_S, halt_barrier_raise

    settings.REDIS_URL = dead_redis_url
    started = time.monotonic()
    assert halt_barrier_raise(scope="*", reason="test") is False
    closed_breaker_took = time.monotonic() - started
    # Three refused writes with a pause between them: the breaker (3 failures) is open now.
    assert closed_breaker_took >= 2 * WRITE_PAUSE_S
    assert breakers.redis_breaker().current_state == breakers.OPEN
    started = time.monotonic()
    assert halt_barrier_raise(scope="*", reason="test") is False
    assert time.monotonic() - started < WRITE_PAUSE_S / 2


def test_the_live_fan_out_skips_at_once_while_the_redis_breaker_is_open(redis_client):
    from streams import keys
    from streams.live import Fanout

    fanout = Fanout()
    try:
        assert fanout.send("desk", [{"kind": "x"}]) is True
        breakers.redis_breaker().open()
        before = int(redis_client.get(keys.live_seq_key("desk")) or 0)
        assert fanout.send("desk", [{"kind": "x"}]) is False
        # Not sent and no sequence number taken: the pages see no gap, as when Redis is down.
        assert int(redis_client.get(keys.live_seq_key("desk")) or 0) == before
    finally:
        fanout.close()


@pytest.mark.django_db
def test_the_system_page_shows_each_breakers_state(client, viewer, redis_client, dead_redis_url):
    redis_client.delete(breakers.breakers_key())
    breakers.breaker("smtp")
    dead = redis.Redis.from_url(dead_redis_url)
    for _ in range(3):
        with pytest.raises(redis.ConnectionError):
            breakers.call("webhook:hooks.example", dead.ping)
    client.force_login(viewer)
    page = client.get("/live/system/").content.decode()
    assert 'data-breaker="smtp" data-state="closed"' in page
    assert 'data-breaker="webhook:hooks.example" data-state="open"' in page
    assert "3 / 3" in page
    redis_client.delete(breakers.breakers_key())
