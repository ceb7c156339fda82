"""The desk's circuit breakers (pybreaker): one per target whose calls fail in bursts, named in one registry.

A breaker counts the failures of the calls made through it; after ``fail_max`` in a row it opens
and every call fails at once with ``BreakerOpen`` (pybreaker's ``CircuitBreakerError``) instead of
waiting on a target that does not answer; ``reset_timeout`` seconds later it lets one trial call
through (half-open), and closes again when that call succeeds (or re-opens when it fails).

Names in use: ``redis`` (Redis from the web processes: the kill switch's barrier and the live
fan-out), ``smtp`` and ``webhook:<host>`` for notifications. Settings: ``BREAKER_FAIL_MAX`` and
``BREAKER_RESET_SECONDS``, per name in ``BREAKERS`` (``{"redis": {"fail_max": 3}}``).

Each process has its own breakers. A change of state is logged, kept here for the System page
and ``/metrics`` (``tradeconsole_circuit_breaker_state``: 0 closed, 1 half-open, 2 open), and
written to the Redis hash ``{prefix}:breakers`` (field ``<name>@<host>:<pid>``) so the System
page of any process shows every process's breakers; that write is best effort and short.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import pybreaker
import redis
from django.conf import settings

logger = logging.getLogger("tradeconsole.breakers")

BreakerOpen = pybreaker.CircuitBreakerError
CLOSED, HALF_OPEN, OPEN = pybreaker.STATE_CLOSED, pybreaker.STATE_HALF_OPEN, pybreaker.STATE_OPEN
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
# Published states older than this are of processes long gone: the System page leaves them out.
PUBLISHED_MAX_AGE_S = 24 * 3600

_lock = threading.Lock()
_breakers: dict[str, pybreaker.CircuitBreaker] = {}
_since: dict[str, float] = {}
_publisher: redis.Redis | None = None


def process_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def breakers_key() -> str:
    return f"{settings.STREAM_PREFIX}:breakers"


def availability_errors_only(*kinds: type[BaseException]) -> Callable[[BaseException], bool]:
    """Return an ``exclude`` test that lets only ``kinds`` count as failures (a refusal is no outage)."""

    def excluded(error: BaseException) -> bool:
        return not isinstance(error, kinds)

    return excluded


def breaker(name: str, *, exclude: Iterable[type[BaseException] | Callable[[BaseException], bool]] = ()):
    """Return this process's breaker named ``name``, made on first use with the settings of that name.

    ``exclude``: exceptions (or tests) that do not count as failures, taken from the first call
    that makes the breaker. The tripping failure re-raises the call's own exception; calls while
    open raise ``BreakerOpen``.
    """
    found = _breakers.get(name)
    if found is not None:
        return found
    with _lock:
        found = _breakers.get(name)
        if found is None:
            tuning = settings.BREAKERS.get(name, {})
            found = pybreaker.CircuitBreaker(
                fail_max=tuning.get("fail_max", settings.BREAKER_FAIL_MAX),
                reset_timeout=tuning.get("reset_timeout", settings.BREAKER_RESET_SECONDS),
                exclude=list(exclude),
                listeners=[_StateRecorder()],
                name=name,
                throw_new_error_on_trip=False,
            )
            _breakers[name] = found
            _since[name] = time.time()
    return found


def call(name: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``func`` through the breaker ``name``.

    :raises BreakerOpen: the breaker is open: ``func`` was not called.
    """
    return breaker(name).call(func, *args, **kwargs)


def breaker_states() -> list[dict]:
    """This process's breakers, by name: state, failures counted, and since when (epoch seconds)."""
    return [
        {
            "name": name,
            "state": found.current_state,
            "failures": found.fail_counter,
            "fail_max": found.fail_max,
            "reset_timeout": found.reset_timeout,
            "since": _since.get(name),
            "process": process_label(),
        }
        for name, found in sorted(_breakers.items())
    ]


def breaker_states_everywhere(client: redis.Redis | None = None) -> list[dict]:
    """Every process's breakers as published to Redis, this process's own (read here) overriding them.

    Never raises: without Redis, this process's breakers alone.
    """
    own = breaker_states()
    mine = {(state["name"], state["process"]) for state in own}
    others: list[dict] = []
    try:
        published = (client or _publishing_client()).hgetall(breakers_key())
    except redis.RedisError:
        published = {}
    cutoff = time.time() - PUBLISHED_MAX_AGE_S
    for raw in published.values():
        try:
            state = json.loads(raw)
        except ValueError:
            continue
        if (state.get("name"), state.get("process")) not in mine and (state.get("since") or 0) >= cutoff:
            others.append(state)
    return sorted(own + others, key=lambda state: (state["name"], state["process"]))


def reset_all() -> None:
    """Forget every breaker of this process (tests; a process starts with none)."""
    with _lock:
        _breakers.clear()
        _since.clear()


def _publishing_client() -> redis.Redis:
    # Its own short timeouts: publishing must not hold the call that tripped the breaker.
    global _publisher
    if _publisher is None:
        _publisher = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=0.2, socket_connect_timeout=0.2, decode_responses=True
        )
    return _publisher


class _StateRecorder(pybreaker.CircuitBreakerListener):
    """Log each change of state, keep when it happened, and publish it (best effort)."""

    def state_change(self, cb, old_state, new_state) -> None:
        name = cb.name
        _since[name] = time.time()
        before = old_state.name if old_state is not None else "none"
        if new_state.name == OPEN:
            logger.warning("circuit breaker %s opened after %d failures (%s before)", name, cb.fail_max, before)
        else:
            logger.info("circuit breaker %s is %s (was %s)", name, new_state.name, before)
        state = {
            "name": name,
            "state": new_state.name,
            "failures": cb.fail_counter,
            "fail_max": cb.fail_max,
            "reset_timeout": cb.reset_timeout,
            "since": _since[name],
            "process": process_label(),
        }
        try:
            _publishing_client().hset(breakers_key(), f"{name}@{state['process']}", json.dumps(state))
        except redis.RedisError:
            logger.debug("circuit breaker %s: state not published (Redis unavailable)", name)


def redis_breaker():
    """The breaker of Redis calls from the web processes: only an outage counts (no connection, a timeout)."""
    return breaker("redis", exclude=[availability_errors_only(redis.ConnectionError, redis.TimeoutError)])


class BreakerFigures:
    """Prometheus collector: this process's breakers' states, read at each scrape."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        gauge = GaugeMetricFamily(
            "tradeconsole_circuit_breaker_state",
            "State of each circuit breaker of this process: 0 closed, 1 half-open, 2 open.",
            labels=["breaker"],
        )
        failures = GaugeMetricFamily(
            "tradeconsole_circuit_breaker_failures",
            "Failures in a row each circuit breaker of this process has counted.",
            labels=["breaker"],
        )
        for name, found in sorted(_breakers.items()):
            gauge.add_metric([name], STATE_VALUES.get(found.current_state, 0))
            failures.add_metric([name], found.fail_counter)
        yield gauge
        yield failures


def _register_default() -> None:
    # The web process's /metrics reads the default registry; other processes add it in metrics.serve.
    import prometheus_client

    try:
        prometheus_client.REGISTRY.register(_FIGURES)
    except ValueError:
        pass  # registered already (a re-imported module in a test)


_FIGURES = BreakerFigures()
_register_default()
