"""The worker on a Redis that requires a password: as an ACL user limited to its own keys and
commands it trades; with a wrong or missing password it stops at once and says why."""

from __future__ import annotations

import time

import pytest

from execution_worker.redis_access import RedisAccessRefused, redacted, redis_access_check
from execution_worker.tests.harness import Bus, WorkerProcess, place
from execution_worker.tests.private_redis import private_redis

# The README's line for the execution process (with the desk's prefix ``tc`` there).
EXECUTION_ACL = (
    "ACL SETUSER tc-execution on >PASSWORD resetkeys ~{prefix}:* resetchannels -@all"
    " +ping +select"
    " +xadd +xreadgroup +xack +xautoclaim +xpending +xgroup|create +xrange +xtrim"
    " +get +set +mget +del +pexpire +hset +hsetnx +hget +hmget +hgetall +hdel +smembers"
    " +zadd +zrem +zrange +zscore +zremrangebyscore"
    " +evalsha +script|load +multi +exec"
)


@pytest.fixture
def secured(tmp_path, prefix):
    with private_redis(tmp_path, acl=(EXECUTION_ACL.format(prefix=prefix),)) as server:
        yield server


def test_the_worker_trades_as_a_user_limited_to_its_keys_and_commands(secured, prefix, sim):
    admin = secured.admin()
    bus = Bus(admin, prefix)
    bus.set_limits(max_order_quantity=100_000)
    worker = WorkerProcess(redis_url=secured.url("tc-execution"), prefix=prefix, port=sim.port)
    try:
        bus.wait_event("gateway.status", timeout=30, state="ready")
        order = place()
        bus.send(order)
        try:
            bus.wait_event("order.accepted", timeout=30, client_order_id=order.client_order_id)
        except AssertionError as error:
            raise AssertionError(f"{error}; ACL denials: {admin.execute_command('ACL', 'LOG')}") from None
        bus.wait_event("order.filled", timeout=30, client_order_id=order.client_order_id)
        assert worker.process.poll() is None
    finally:
        worker.terminate()
        output = worker.output()
        worker.close()
    denied = admin.execute_command("ACL", "LOG")
    assert denied == [], denied
    assert "NOPERM" not in output and "Redis error" not in output, output[-3000:]
    assert secured.password not in output


@pytest.mark.parametrize("password", ["wrong", ""], ids=["wrong password", "no password"])
def test_the_worker_stops_at_once_saying_redis_refused_its_credentials(secured, prefix, sim, password):
    url = secured.url(password=password) if password else f"redis://127.0.0.1:{secured.port}/0"
    worker = WorkerProcess(redis_url=url, prefix=prefix, port=sim.port)
    try:
        assert worker.wait_exit(timeout=20) == 2
        output = worker.output()
    finally:
        worker.close()
    assert "refused REDIS_URL's credentials" in output, output
    assert "Traceback" not in output
    assert (password or secured.password) not in output


def test_the_access_check_passes_with_the_password_and_waits_out_a_redis_that_is_down(secured):
    redis_access_check(secured.url())
    redis_access_check("redis://127.0.0.1:9/0", timeout=0.5)  # nothing listens: the worker will wait
    with pytest.raises(RedisAccessRefused, match="tc-execution:\\*\\*\\*@"):
        redis_access_check(secured.url("tc-execution", "not-it"))


def test_a_redacted_url_keeps_the_user_and_hides_the_password():
    assert redacted("redis://tc-web:s3cret@10.0.0.5:6380/2") == "redis://tc-web:***@10.0.0.5:6380/2"
    assert redacted("redis://:s3cret@localhost/0") == "redis://:***@localhost/0"
    assert redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_command_redis_keeps_refusing_is_retried_at_a_bounded_pace_not_in_a_tight_loop(tmp_path, prefix, sim):
    # The worker's user without EVALSHA: every send claim is refused (NOPERM) and the order stays
    # pending, as it must; before the backoff the loop re-read it thousands of times a second.
    acl = EXECUTION_ACL.format(prefix=prefix).replace(" +evalsha", "")
    with private_redis(tmp_path, acl=(acl,)) as server:
        admin = server.admin()
        bus = Bus(admin, prefix)
        bus.set_limits(max_order_quantity=100_000)
        worker = WorkerProcess(redis_url=server.url("tc-execution"), prefix=prefix, port=sim.port)
        try:
            bus.wait_event("gateway.status", timeout=30, state="ready")
            bus.send(place())
            time.sleep(4)
            assert worker.process.poll() is None
        finally:
            worker.terminate()
            output = worker.output()
            worker.close()
    retries = output.count("left pending")
    assert 1 <= retries <= 40, f"{retries} retries in 4 s"
