"""The monitoring run's lock where PostgreSQL's advisory locks are not available (SQLite quick start)."""

from orders import monitoring


def test_the_redis_lock_is_held_by_one_run_at_a_time_and_released_after_it(settings):
    settings.STREAM_PREFIX = "tctest-lock"
    with monitoring._redis_lock(4242) as first, monitoring._redis_lock(4242) as second:
        assert (first, second) == (True, False)
    with monitoring._redis_lock(4242) as again:
        assert again is True


def test_the_redis_lock_expires_so_a_killed_run_cannot_block_the_loop_for_long(settings):
    settings.STREAM_PREFIX = "tctest-lock-ttl"
    settings.MONITOR_INTERVAL_SECONDS = 1
    with monitoring._redis_lock(4343):
        ttl_ms = monitoring._redis().pttl("tctest-lock-ttl:lock:4343")
    assert 0 < ttl_ms <= 10_000
