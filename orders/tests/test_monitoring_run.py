"""The monitoring run against the real PostgreSQL and Redis: the lock that keeps runs from overlapping, the
broker refresh budget, the monitor's heartbeat, and risk limits Redis lost published again."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import OutboxMessage, ProcessHeartbeat
from orders import monitoring
from orders.models import PnLPoint

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_monitor_state")]


@pytest.mark.django_db(transaction=True)
def test_a_run_does_nothing_while_another_run_holds_the_lock(account):
    params = connection.get_connection_params()
    other = psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        dbname=connection.settings_dict["NAME"],
    )
    try:
        other.execute("SELECT pg_advisory_lock(%s)", [monitoring.MONITOR_LOCK_KEY])

        report = monitoring.monitoring_run()

        assert report.ran is False
        assert not PnLPoint.objects.exists()
        other.execute("SELECT pg_advisory_unlock(%s)", [monitoring.MONITOR_LOCK_KEY])
        assert monitoring.monitoring_run().ran is True
        assert PnLPoint.objects.count() == 1
    finally:
        other.close()


def test_the_refresh_is_asked_for_within_the_broker_message_budget(account, settings):
    settings.MONITOR_BROKER_MESSAGES_PER_SECOND = 1.0
    now = timezone.now()

    first = monitoring.broker_refresh_request(now=now, accounts=1)
    too_soon = monitoring.broker_refresh_request(now=now + timedelta(seconds=1.5), accounts=1)
    later = monitoring.broker_refresh_request(now=now + timedelta(seconds=2.5), accounts=1)

    assert first is not None and first.data == {"what": ["positions", "account"]}
    assert too_soon is None
    assert later is not None
    assert OutboxMessage.objects.filter(type="broker.refresh").count() == 2


def test_with_many_accounts_the_refresh_is_spaced_to_keep_under_five_messages_a_second(account, settings):
    # 100 accounts: 1 positions request + 100 account updates = 101 messages, so one refresh
    # every 20.2 s at most, which averages 5 messages a second.
    assert monitoring.refresh_cost(("positions", "account"), 100) == 101
    assert monitoring.refresh_cost(("positions",), 100) == 1
    now = timezone.now()
    assert monitoring.broker_refresh_request(now=now, accounts=100) is not None
    assert monitoring.broker_refresh_request(now=now + timedelta(seconds=20), accounts=100) is None
    assert monitoring.broker_refresh_request(now=now + timedelta(seconds=20.3), accounts=100) is not None


@pytest.mark.django_db
def test_the_monitor_beats_after_a_run_and_says_when_a_step_failed(account, monkeypatch):
    monitoring.monitoring_run()
    assert ProcessHeartbeat.objects.get(name="monitor").state == "running"

    def broken(**_kwargs):
        raise RuntimeError("a bug in one step")

    monkeypatch.setattr(monitoring.run, "system_alerts", broken)
    monitoring.monitoring_run()

    assert ProcessHeartbeat.objects.get(name="monitor").state == "running, 1 step(s) failed"


@pytest.mark.django_db
def test_a_run_that_fails_leaves_the_monitor_heartbeat_to_age(account, monkeypatch):
    monitoring.monitoring_run()
    beat = ProcessHeartbeat.objects.get(name="monitor").last_seen_at

    def failing(**_kwargs):
        raise RuntimeError("the PnL query failed")

    monkeypatch.setattr(monitoring.run, "pnl_update", failing)
    with pytest.raises(RuntimeError):
        monitoring.monitoring_run(now=timezone.now() + timedelta(seconds=30))

    assert ProcessHeartbeat.objects.get(name="monitor").last_seen_at == beat


def _risk_rows(account):
    return OutboxMessage.objects.filter(stream="risk", data__account=account.code)


@pytest.mark.django_db
def test_risk_limits_redis_lost_are_published_again_once(account):
    from execution_worker.messages import StreamNames

    key = StreamNames(settings.STREAM_PREFIX).risk_limits(account.code)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(key)
    OutboxMessage.objects.all().delete()

    first = monitoring.monitoring_run()
    second = monitoring.monitoring_run()  # the relay has not published it yet: no second copy

    assert first.limits_republished == [account.code]
    assert second.limits_republished == []
    (row,) = _risk_rows(account)
    assert row.type == "risk.limits" and row.data["account"] == account.code

    OutboxMessage.objects.filter(pk=row.pk).update(published_at=timezone.now())
    client.set(key, "{}")  # what the relay does
    try:
        assert monitoring.monitoring_run().limits_republished == []
        assert _risk_rows(account).count() == 1
    finally:
        client.delete(key)


@pytest.mark.django_db(transaction=True)
def test_republishing_lost_limits_while_a_risk_manager_saves_new_ones_never_queues_the_old_ones_last(
    account, risk_manager
):
    """The relay publishes in id order: an old copy queued after the new limits would win in Redis."""
    import threading

    from django.db import transaction

    from execution_worker.messages import StreamNames
    from orders.selectors import risk_limit_for_account
    from orders.services import risk_limit_update

    risk_limit_update(
        risk_limit=risk_limit_for_account(account), actor=risk_manager, via="test", max_order_quantity="100"
    )
    OutboxMessage.objects.update(published_at=timezone.now())  # the relay published them...
    redis.Redis.from_url(settings.REDIS_URL).delete(StreamNames(settings.STREAM_PREFIX).risk_limits(account.code))
    saved, commit, done = threading.Event(), threading.Event(), threading.Event()  # ...and Redis lost them
    reports: list = []

    def risk_manager_tightens_the_limit():
        try:
            with transaction.atomic():
                risk_limit_update(
                    risk_limit=risk_limit_for_account(account), actor=risk_manager, via="test", max_order_quantity="5"
                )
                saved.set()
                commit.wait(10)
        finally:
            connection.close()

    def monitor_runs_meanwhile():
        try:
            reports.append(monitoring.risk_limits_ensure(accounts=[account], report=monitoring.MonitoringReport()))
        finally:
            done.set()
            connection.close()

    update = threading.Thread(target=risk_manager_tightens_the_limit)
    update.start()
    assert saved.wait(10)
    monitor = threading.Thread(target=monitor_runs_meanwhile)
    monitor.start()
    assert not done.wait(0.5)  # it waits for the update's lock
    commit.set()
    update.join(10)
    monitor.join(10)

    queued = list(
        OutboxMessage.objects.filter(stream="risk", published_at__isnull=True)
        .order_by("id")
        .values_list("data__max_order_quantity", flat=True)
    )
    assert reports == [[]]  # the update's own publication was queued: nothing added
    assert queued[-1] == "5"
