"""The monitoring run against the real PostgreSQL and Redis: stale and rejected orders, the daily loss limit and
the system alerts (heartbeats, gateway, dead letters, stream lag, outbox backlog)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from accounts.models import Alert, OutboxMessage, ProcessHeartbeat
from accounts.services import account_resume, alert_acknowledge, alert_resolve
from orders import monitoring
from orders.models import Order, OrderStatus
from orders.services import (
    order_mark_accepted,
    order_mark_rejected,
    order_submit,
)
from orders.tests.helpers import buy, set_policy

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_monitor_state")]


def working_limit(account, instrument, price, *, age_seconds):
    order = order_submit(
        actor=None, account=account, instrument=instrument, side="BUY", quantity=10, order_type="LMT",
        limit_price=Decimal(price), source="api", via="test",
    )  # fmt: skip
    order_mark_accepted(client_order_id=order.client_order_id, order_id=11)
    Order.objects.filter(pk=order.pk).update(submitted_at=timezone.now() - timedelta(seconds=age_seconds))
    return order


def test_a_stale_limit_order_is_repriced_toward_the_touch_with_its_reason(account, instrument):
    set_policy(account, stale_order_seconds=60)
    order = working_limit(account, instrument, "99.00", age_seconds=120)

    report = monitoring.monitoring_run()

    order.refresh_from_db()
    assert report.repriced == [str(order.client_order_id)]
    assert order.limit_price == Decimal("99.50")  # halfway to the last price 100.00
    event = order.events.get(kind="monitor.repriced")
    assert "stale: working 120 s" in event.detail
    assert OutboxMessage.objects.filter(type="order.modify").count() == 1
    assert monitoring.monitoring_run().repriced == []  # the clock restarts at the re-pricing


def test_the_touch_comes_from_the_market_data_stream_when_it_is_fresh(account, instrument):
    from execution_worker.messages import MarketData, StreamNames, encode

    r = redis.Redis.from_url(settings.REDIS_URL)
    r.xadd(
        StreamNames(settings.STREAM_PREFIX).md("AAPL"),
        encode(MarketData(symbol="AAPL", bid=Decimal("99.8"), ask=Decimal("99.9"))),
    )

    assert monitoring.touch_price(instrument, "BUY") == Decimal("99.9")
    assert monitoring.touch_price(instrument, "SELL") == Decimal("99.8")


def test_a_stale_order_is_cancelled_after_its_repricings_or_when_the_policy_says_cancel(account, instrument):
    set_policy(account, stale_order_seconds=60, stale_order_action="cancel")
    order = working_limit(account, instrument, "99.00", age_seconds=120)

    report = monitoring.monitoring_run()

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCEL_REQUESTED
    assert report.cancelled == [str(order.client_order_id)]
    assert "stale" in order.events.get(kind="cancel_requested").detail


def test_an_order_rejected_for_a_transient_reason_is_replaced_at_most_the_configured_times(account, instrument):
    set_policy(account, reject_retry_max=2)
    original = order_submit(
        actor=None, account=account, instrument=instrument, side="BUY", quantity=10, order_type="LMT",
        limit_price=Decimal("99"), source="api", via="test",
    )  # fmt: skip
    order_mark_rejected(client_order_id=original.client_order_id, code="risk.rate", reason="pacing")

    chain = [original]
    for _ in range(4):
        monitoring.monitoring_run()
        latest = Order.objects.order_by("-created_at", "-id").first()
        if latest.status == OrderStatus.NEW:
            chain.append(latest)
            order_mark_rejected(client_order_id=latest.client_order_id, code="risk.rate", reason="pacing")

    assert len(chain) == 3  # the original and two re-placements
    assert Order.objects.count() == 3
    replaced = chain[1].events.get(kind="monitor.replacement_of")
    assert replaced.data == {"original": str(original.client_order_id), "attempt": 1}
    assert chain[2].events.get(kind="monitor.replacement_of").data["attempt"] == 2
    assert chain[2].events.filter(kind="monitor.not_replaced").count() == 1


def test_an_order_rejected_for_a_lasting_reason_is_not_replaced(account, instrument):
    set_policy(account, reject_retry_max=3)
    original = order_submit(
        actor=None, account=account, instrument=instrument, side="BUY", quantity=10, order_type="MKT",
        source="api", via="test",
    )  # fmt: skip
    order_mark_rejected(client_order_id=original.client_order_id, code="broker.201", reason="margin")

    monitoring.monitoring_run()

    assert Order.objects.count() == 1


def test_reaching_the_daily_loss_limit_halts_the_account_once(account, instrument):
    set_policy(account, max_daily_loss=Decimal("500"))
    buy(account, instrument, 100, "100")
    instrument.last_price = Decimal("94")
    instrument.save(update_fields=["last_price"])

    first = monitoring.monitoring_run()
    account_resume(account=account, actor=None, via="test")
    monitoring.monitoring_run()

    account.refresh_from_db()
    assert first.halted == [account.code]
    assert account.trading_enabled  # resumed by a person; the day's alert is not raised again
    alert = Alert.objects.get(kind="risk.daily_loss")
    assert Decimal(alert.data["pnl_today"]) == Decimal("-600")


def test_a_missing_heartbeat_raises_one_alert_that_resolves_when_it_beats_again(account):
    ProcessHeartbeat.objects.filter(name="bridge").update(last_seen_at=timezone.now() - timedelta(minutes=5))

    monitoring.monitoring_run()
    monitoring.monitoring_run()
    assert Alert.objects.filter(key="heartbeat.missing:bridge").count() == 1

    ProcessHeartbeat.objects.filter(name="bridge").update(last_seen_at=timezone.now())
    monitoring.monitoring_run()
    assert Alert.objects.get(key="heartbeat.missing:bridge").status == Alert.Status.RESOLVED


def test_a_disconnected_gateway_raises_a_critical_alert(account):
    ProcessHeartbeat.objects.filter(name="execution").update(state="disconnected")

    report = monitoring.monitoring_run()

    assert "gateway.disconnected" in report.alerts
    assert Alert.objects.get(key="gateway.disconnected").severity == Alert.Severity.CRITICAL


def test_new_dead_letters_raise_one_alert_whose_count_follows_the_stream(account):
    from execution_worker.messages import StreamNames

    r = redis.Redis.from_url(settings.REDIS_URL)
    dlq = StreamNames(settings.STREAM_PREFIX).dlq
    r.xadd(dlq, {"reason": "undecodable"})

    monitoring.monitoring_run()
    r.xadd(dlq, {"reason": "undecodable"})
    r.xadd(dlq, {"reason": "undecodable"})
    monitoring.monitoring_run()

    alert = Alert.objects.get(kind="stream.dead_letters")
    assert alert.data == {"length": 3, "since": 0}
    assert alert.message.startswith("3 new message(s)") and "(3 in all)" in alert.message


def test_an_acknowledged_dead_letter_alert_comes_back_when_more_letters_arrive(account):
    from execution_worker.messages import StreamNames

    r = redis.Redis.from_url(settings.REDIS_URL)
    dlq = StreamNames(settings.STREAM_PREFIX).dlq
    r.xadd(dlq, {"reason": "undecodable"})
    monitoring.monitoring_run()
    alert = Alert.objects.get(kind="stream.dead_letters")
    alert_acknowledge(alert=alert, actor=None, via="test")
    monitoring.monitoring_run()
    assert Alert.objects.get(pk=alert.pk).status == Alert.Status.ACKNOWLEDGED

    r.xadd(dlq, {"reason": "undecodable"})
    report = monitoring.monitoring_run()

    alert.refresh_from_db()
    assert alert.status == Alert.Status.OPEN and alert.acknowledged_at is None
    assert alert.message.startswith("2 new message(s)") and "stream.dead_letters" in report.alerts


def test_after_a_resolved_dead_letter_alert_only_the_letters_since_are_counted(account):
    from execution_worker.messages import StreamNames

    r = redis.Redis.from_url(settings.REDIS_URL)
    dlq = StreamNames(settings.STREAM_PREFIX).dlq
    for _ in range(4):
        r.xadd(dlq, {"reason": "undecodable"})
    monitoring.monitoring_run()
    alert_resolve(key="stream.dead_letters")
    monitoring.monitoring_run()
    assert not Alert.objects.exclude(status=Alert.Status.RESOLVED).filter(kind="stream.dead_letters").exists()

    r.xadd(dlq, {"reason": "undecodable"})
    monitoring.monitoring_run()

    alert = Alert.objects.exclude(status=Alert.Status.RESOLVED).get(kind="stream.dead_letters")
    assert alert.data == {"length": 5, "since": 4} and alert.message.startswith("1 new message(s)")


def test_stream_lag_beyond_the_threshold_raises_an_alert(account, settings):
    from execution_worker.messages import EVENTS_GROUP, StreamNames

    settings.MONITOR_STREAM_LAG_MAX = 3
    r = redis.Redis.from_url(settings.REDIS_URL)
    events = StreamNames(settings.STREAM_PREFIX).events
    r.xgroup_create(events, EVENTS_GROUP, id="0", mkstream=True)
    for n in range(5):
        r.xadd(events, {"n": str(n)})

    monitoring.monitoring_run()

    assert Alert.objects.filter(key=f"stream.lag:{events}:{EVENTS_GROUP}").exists()


def test_commands_waiting_in_the_outbox_raise_a_backlog_alert(account):
    OutboxMessage.objects.create(type="broker.refresh", data={"what": ["positions"]})
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(minutes=1))

    monitoring.monitoring_run()

    assert Alert.objects.filter(key="outbox.backlog", status=Alert.Status.OPEN).exists()
