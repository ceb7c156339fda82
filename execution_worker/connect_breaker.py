"""The circuit breaker of the worker's TWS connects (pybreaker): open after connects failed in a row.

While open, the reconnect loop does not knock on TWS; after ``reset_timeout`` (the backoff's cap,
so the loop's timing stays what the capped backoff makes it) one trial connect goes through
(half-open), and its success closes the breaker. Each change of state is logged and written to the
Redis hash ``{prefix}:breakers`` beside the Django processes' breakers, so the System page shows it
(the same fields as ``tradeconsole.breakers``); the worker's metrics serve its state.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time

import pybreaker
import redis

log = logging.getLogger("execution_worker")

NAME = "tws-connect"
# Connects failed in a row that open the breaker.
FAIL_MAX = 5
STATE_VALUES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class _Published(pybreaker.CircuitBreakerListener):
    """Log each change of state and write it to ``{prefix}:breakers`` (best effort: never raises)."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self.client = client
        self.key = key
        self.process = f"{socket.gethostname()}:{os.getpid()}"

    def state_change(self, cb, old_state, new_state) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            log.warning("circuit breaker %s opened after %d failed connects", cb.name, cb.fail_max)
        else:
            log.info("circuit breaker %s is %s", cb.name, new_state.name)
        state = {
            "name": cb.name,
            "state": new_state.name,
            "failures": cb.fail_counter,
            "fail_max": cb.fail_max,
            "reset_timeout": cb.reset_timeout,
            "since": time.time(),
            "process": f"execution {self.process}",
        }
        try:
            self.client.hset(self.key, f"{cb.name}@{self.process}", json.dumps(state))
        except redis.RedisError as error:
            log.debug("circuit breaker %s: state not published (%s)", cb.name, error)


def connect_breaker(*, client: redis.Redis, prefix: str, reset_timeout: float) -> pybreaker.CircuitBreaker:
    """The breaker of one worker's connects: only a failed connect (``ConnectionError``) counts."""
    return pybreaker.CircuitBreaker(
        fail_max=FAIL_MAX,
        reset_timeout=reset_timeout,
        exclude=[lambda error: not isinstance(error, ConnectionError)],
        listeners=[_Published(client, f"{prefix}:breakers")],
        name=NAME,
        throw_new_error_on_trip=False,
    )
