"""The kill switch's barrier in Redis: ``{prefix}:halts``, read by the worker's claim before every placeOrder.

The stream's ``trading.halt`` reaches the worker only when it reads that far, behind commands it
already holds; the barrier does not wait. ``account_halt`` and ``kill_switch_engage`` write their
scope (an account code, or ``*``) under their row lock, before they return, then wait until the
worker's send leases of that scope have ended: from then on the worker's claim refuses every order
of the scope, so no placeOrder follows the engage. ``account_resume`` and ``kill_switch_release``
lift it after they commit, only if nothing wrote it again since. PostgreSQL stays the record:
``halt_barrier_resync`` (the relay runs it every few seconds) rewrites the barrier from it, which
undoes a rolled-back engage and restores halts Redis lost. Its write goes through the ``redis``
circuit breaker (``tradeconsole.breakers``): while Redis is out, an engage stops waiting on it at once.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

import redis
from django.conf import settings
from django.db import transaction

from accounts.models import BrokerAccount, KillSwitch
from execution_worker.messages import StreamNames
from tradeconsole.breakers import BreakerOpen, redis_breaker

logger = logging.getLogger(__name__)

DESK = "*"
# The worker's leases last 300 ms (execution_worker.store.SEND_LEASE_MS); an engage waits at most this.
LEASE_WAIT_S = 1.0
WRITE_ATTEMPTS = 3
WRITE_PAUSE_S = 0.2

# Delete a field only if it still holds the value read under the row lock: a later engage's value stays.
_LIFT_IF_SAME = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""

_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    client = _clients.get(settings.REDIS_URL)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        _clients[settings.REDIS_URL] = client
    return client


def _names() -> StreamNames:
    return StreamNames(settings.STREAM_PREFIX)


def _value(reason: str) -> str:
    return json.dumps({"reason": reason, "token": uuid.uuid4().hex}, separators=(",", ":"))


def halt_barrier_raise(*, scope: str, reason: str) -> bool:
    """Write the halt of ``scope`` (account code or ``*``) and wait out the sends the worker claimed before.

    Call it holding the row lock of the scope (the kill switch's or the account's), before the
    service returns: once it returns, the worker's claim refuses every order of ``scope`` and no
    claim made earlier can still reach placeOrder. Returns False when Redis could not be written
    (logged): the engage still stands on PostgreSQL, the worker sends nothing while Redis does not
    answer it, and ``halt_barrier_resync`` writes the barrier once Redis answers.
    """
    names = _names()
    client = _redis()
    for attempt in range(WRITE_ATTEMPTS):
        try:
            redis_breaker().call(client.hset, names.halts, scope, _value(reason))
            _wait_for_sends(client, names.sending(scope))
            return True
        except BreakerOpen:
            # Redis failed in a burst just now: no more seconds of waiting on it; resync writes it later.
            logger.error("kill switch barrier for %s not written (Redis breaker open); resync will write it", scope)
            return False
        except redis.RedisError as error:
            if attempt + 1 == WRITE_ATTEMPTS:
                logger.error("kill switch barrier for %s not written (%s); resync will write it", scope, error)
                return False
            time.sleep(WRITE_PAUSE_S)
    return False


def _wait_for_sends(client: redis.Redis, lease_key: str) -> None:
    """Wait until ``lease_key`` (the worker's send lease of the scope) has expired, at most LEASE_WAIT_S.

    No claim after the barrier's write renews it, so it ends within one lease.
    """
    deadline = time.monotonic() + LEASE_WAIT_S
    while True:
        ttl_ms = client.pttl(lease_key)
        if ttl_ms < 0:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            logger.error("the worker's send lease %s outlived %.1f s; engage returns anyway", lease_key, LEASE_WAIT_S)
            return
        time.sleep(min(left, ttl_ms / 1000.0 + 0.001))


def halt_barrier_lift_on_commit(*, scope: str) -> None:
    """Lift the halt of ``scope`` once the current transaction commits (a release or resume).

    Call it holding the scope's row lock: the value read now is deleted only if it is still there
    after the commit, so an engage that came in between keeps its halt. A Redis error leaves the
    halt (fail closed) until ``halt_barrier_resync`` sees PostgreSQL released it.
    """
    names = _names()
    client = _redis()
    try:
        value = client.hget(names.halts, scope)
    except redis.RedisError as error:
        logger.warning("could not read the kill switch barrier of %s (%s); resync will lift it", scope, error)
        return
    if value is None:
        return

    def lift() -> None:
        try:
            client.eval(_LIFT_IF_SAME, 1, names.halts, scope, value)
        except redis.RedisError as error:
            logger.warning("could not lift the kill switch barrier of %s (%s); resync will", scope, error)

    transaction.on_commit(lift)


def _halted_in_database() -> dict[str, str]:
    """Scope -> reason of everything PostgreSQL says is halted."""
    halted = dict(
        BrokerAccount.objects.filter(trading_enabled=False).values_list("code", "halted_reason").order_by("pk")
    )
    halted = {code: reason or "Halted" for code, reason in halted.items()}
    switch = KillSwitch.objects.filter(pk=1, engaged=True).values_list("reason", flat=True).first()
    if switch is not None:
        halted[DESK] = switch or "Kill switch"
    return halted


def _halted_locked(scopes: set[str]) -> dict[str, str]:
    """Scope -> reason of those of ``scopes`` PostgreSQL says are halted, holding their rows' locks.

    Accounts first, then the kill switch: the order in which order entry takes them.
    """
    halted: dict[str, str] = {}
    codes = scopes - {DESK}
    if codes:
        rows = BrokerAccount.objects.select_for_update().filter(code__in=codes).order_by("pk")
        for code, enabled, reason in rows.values_list("code", "trading_enabled", "halted_reason"):
            if not enabled:
                halted[code] = reason or "Halted"
    if DESK in scopes:
        switch = KillSwitch.objects.select_for_update().filter(pk=1).values_list("engaged", "reason").first()
        if switch is not None and switch[0]:
            halted[DESK] = switch[1] or "Kill switch"
    return halted


def halt_barrier_resync() -> int:
    """Make ``{prefix}:halts`` hold exactly what PostgreSQL says is halted; return how many fields changed.

    Cheap when they agree (one HGETALL and two reads). Scopes that differ are corrected holding
    their rows' locks, which every engage, halt, release and resume takes before touching the
    barrier: so a halt written by an engage still in flight is never taken for a stale one.

    :raises redis.RedisError: Redis does not answer (the caller retries on its next pass).
    """
    names = _names()
    client = _redis()
    stored = {k.decode(): v for k, v in client.hgetall(names.halts).items()}
    differing = set(stored) ^ set(_halted_in_database())
    if not differing:
        return 0
    changed = 0
    with transaction.atomic():
        wanted = _halted_locked(differing)
        current = client.hmget(names.halts, sorted(differing))
        pipe = client.pipeline(transaction=True)
        for scope, value in zip(sorted(differing), current, strict=True):
            if scope in wanted and value is None:
                pipe.hset(names.halts, scope, _value(wanted[scope]))
                changed += 1
            elif scope not in wanted and value is not None:
                pipe.eval(_LIFT_IF_SAME, 1, names.halts, scope, value)
                changed += 1
        pipe.execute()
    if changed:
        logger.warning("kill switch barrier resynchronised from the database: %d field(s) corrected", changed)
    return changed
