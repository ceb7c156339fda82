"""The monitoring run against the real PostgreSQL and Redis: PnL, positions, protection, stale and rejected
orders, alerts, and the lock that keeps runs from overlapping."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import psycopg
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.exceptions import PermissionRequired
from accounts.models import Alert, AuditLog, OutboxMessage, ProcessHeartbeat
from accounts.services import account_resume, alert_acknowledge, alert_resolve, position_mismatch_acknowledge
from orders import monitoring
from orders.models import Order, OrderEvent, OrderStatus, PnLPoint, Position
from orders.monitoring import books
from orders.services import (
    order_apply_broker_status,
    order_mark_accepted,
    order_mark_rejected,
    order_submit,
)
from orders.tests.helpers import buy, report_broker, sell, set_policy
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_monitor_state")]


# --- the lock and the refresh budget -------------------------------------------------------------


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


# --- PnL -----------------------------------------------------------------------------------------------


def test_a_run_stores_a_pnl_point_with_fifo_realized_and_unrealized_at_the_last_price(account, instrument):
    buy(account, instrument, 100, "100")
    buy(account, instrument, 100, "110")
    sell(account, instrument, 150, "120")  # closes 100 @100 (+2000) and 50 @110 (+500)
    instrument.last_price = Decimal("105")
    instrument.save(update_fields=["last_price"])

    monitoring.monitoring_run()

    point = PnLPoint.objects.get(account=account)
    assert point.realized_pnl == Decimal("2500")
    assert point.unrealized_pnl == Decimal("-250")  # 50 left @110 valued at 105


def test_the_incremental_books_follow_new_fills_and_agree_with_a_full_recompute(account, other_account, instrument):
    monitoring.monitoring_run()
    buy(account, instrument, 10, "100")
    sell(other_account, instrument, 5, "101")
    monitoring.monitoring_run()
    sell(account, instrument, 4, "103")
    buy(other_account, instrument, 7, "99")

    report = monitoring.monitoring_run()

    assert report.new_fills == 2
    tracker = monitoring.pnl.state.tracker
    assert books.books_differ(tracker.books, books.full_recompute()) == []
    realized = dict(PnLPoint.objects.filter(at=PnLPoint.objects.latest("at").at).values_list("account", "realized_pnl"))
    assert realized == {account.pk: Decimal("12"), other_account.pk: Decimal("10")}


def test_a_late_execution_report_is_replayed_in_execution_order(account, instrument):
    now = timezone.now()
    monitoring.monitoring_run()
    buy(account, instrument, 10, "100", at=now - timedelta(minutes=5))
    monitoring.monitoring_run()
    # Reported late: executed before the first buy, at a different price.
    buy(account, instrument, 10, "90", at=now - timedelta(minutes=10))
    sell(account, instrument, 10, "95", at=now)

    monitoring.monitoring_run()

    book = monitoring.pnl.state.tracker.books[(account.pk, instrument.pk)]
    assert book.realized == Decimal("50")  # FIFO by execution: the 90 lot closes first
    assert books.books_differ(monitoring.pnl.state.tracker.books, books.full_recompute()) == []


def test_a_book_that_disagrees_with_the_full_recompute_raises_an_alert_and_is_replaced(account, instrument, settings):
    settings.MONITOR_FULL_RECOMPUTE_EVERY = 2
    buy(account, instrument, 10, "100")
    monitoring.monitoring_run()
    monitoring.pnl.state.tracker.books[(account.pk, instrument.pk)].realized_scaled += 10**10  # one dollar

    report = monitoring.monitoring_run()

    assert report.full_recompute
    assert Alert.objects.filter(kind="pnl.disagreement", account=account).count() == 1
    assert monitoring.pnl.state.tracker.books[(account.pk, instrument.pk)].realized == Decimal("0")


def test_a_running_sessions_metrics_follow_the_price(account, instrument):
    strategy = StrategyFactory()
    session = TradingSessionFactory(strategy=strategy, account=account, status="running", started_at=timezone.now())
    order = order_submit(
        actor=None, account=account, instrument=instrument, side="BUY", quantity=10, order_type="MKT",
        source="strategy", trading_session=session, via="test",
    )  # fmt: skip
    buy(account, instrument, 10, "100", order=order)
    for price, expected_unrealized in (("110", "100"), ("95", "-50")):
        instrument.last_price = Decimal(price)
        instrument.save(update_fields=["last_price"])
        monitoring.monitoring_run()
        session.refresh_from_db()
        assert session.unrealized_pnl == Decimal(expected_unrealized)

    assert session.peak_pnl == Decimal("100")
    assert session.max_drawdown == Decimal("150")
    assert session.trade_count == 1


# --- broker positions against the book -------------------------------------------------------------------


def test_a_position_mismatch_halts_the_account_once_and_raises_a_critical_alert(account, instrument):
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 60)

    first = monitoring.monitoring_run()
    second = monitoring.monitoring_run()

    account.refresh_from_db()
    assert not account.trading_enabled
    assert "position mismatch in AAPL" in account.halted_reason
    alert = Alert.objects.get(kind="position.mismatch")
    assert alert.severity == Alert.Severity.CRITICAL and alert.status == Alert.Status.OPEN
    assert first.mismatches == [f"position.mismatch:{account.code}:AAPL"] and second.mismatches == []
    assert AuditLog.objects.filter(action="account.halt", account=account).count() == 1
    assert OutboxMessage.objects.filter(type="trading.halt", data__account=account.code).count() == 1


def test_only_a_risk_manager_may_acknowledge_a_mismatch_and_it_is_audited(account, instrument, trader, risk_manager):
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 0)
    monitoring.monitoring_run()
    alert = Alert.objects.get(kind="position.mismatch")

    with pytest.raises(PermissionRequired):
        position_mismatch_acknowledge(alert=alert, actor=trader, via="test")
    position_mismatch_acknowledge(alert=alert, actor=risk_manager, via="test")

    alert.refresh_from_db()
    assert alert.status == Alert.Status.ACKNOWLEDGED and alert.acknowledged_by == risk_manager
    assert AuditLog.objects.filter(action="alert.acknowledge", actor=risk_manager).count() == 1


def test_an_acknowledged_mismatch_resolves_when_the_broker_agrees_and_a_new_one_halts_again(
    account, instrument, risk_manager
):
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 0)
    monitoring.monitoring_run()
    position_mismatch_acknowledge(alert=Alert.objects.get(), actor=risk_manager, via="test")
    account_resume(account=account, actor=risk_manager, via="test")

    report_broker(account, instrument, 100)
    monitoring.monitoring_run()
    assert Alert.objects.get(kind="position.mismatch").status == Alert.Status.RESOLVED
    account.refresh_from_db()
    assert account.trading_enabled

    report_broker(account, instrument, 50)
    monitoring.monitoring_run()
    account.refresh_from_db()
    assert not account.trading_enabled
    assert Alert.objects.filter(kind="position.mismatch").count() == 2


def test_a_missing_broker_report_is_never_read_as_flat(account, instrument):
    buy(account, instrument, 100, "100")

    monitoring.monitoring_run()

    account.refresh_from_db()
    assert account.trading_enabled
    assert not Alert.objects.filter(kind="position.mismatch").exists()
    assert Alert.objects.get(kind="position.unreported").status == Alert.Status.OPEN


def test_a_report_older_than_the_last_fill_is_not_compared(account, instrument):
    report_broker(account, instrument, 0, at=timezone.now() - timedelta(seconds=5))
    buy(account, instrument, 100, "100")

    monitoring.monitoring_run()

    account.refresh_from_db()
    assert account.trading_enabled


# --- protection -------------------------------------------------------------------------------------------


def test_a_position_gets_one_oca_pair_of_protective_orders_and_not_another_while_they_work(account, instrument):
    set_policy(account, stop_loss_pct=Decimal("2"), take_profit_pct=Decimal("3"))
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 100)

    first = monitoring.monitoring_run()
    second = monitoring.monitoring_run()

    orders = list(Order.objects.filter(source="monitor").order_by("order_type"))
    assert len(first.protective_orders) == 2 and second.protective_orders == []
    assert len(orders) == 2
    take, stop = orders  # LMT sorts before STP
    assert (stop.side, stop.order_type, stop.stop_price, stop.quantity) == (
        "SELL",
        "STP",
        Decimal("98"),
        Decimal("100"),
    )
    assert (take.side, take.order_type, take.limit_price) == ("SELL", "LMT", Decimal("103"))
    assert stop.oca_group == take.oca_group and stop.oca_group.startswith("protect:DU0000001:AAPL:")
    assert stop.tif == take.tif == "GTC"
    assert OrderEvent.objects.filter(kind="monitor.protect").count() == 2
    assert OutboxMessage.objects.filter(type="order.place").count() == 2


def test_protection_is_not_placed_again_while_its_outcome_is_unknown(account, instrument):
    set_policy(account, stop_loss_pct=Decimal("2"))
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 100)
    monitoring.monitoring_run()
    stop = Order.objects.get(source="monitor")
    Order.objects.filter(pk=stop.pk).update(status=OrderStatus.SUBMIT_UNKNOWN)

    report = monitoring.monitoring_run()

    assert report.protective_orders == []
    assert Order.objects.filter(source="monitor").count() == 1


def test_a_short_position_is_protected_above_its_cost_by_buy_orders(account, instrument):
    set_policy(account, stop_loss_pct=Decimal("2.5"), take_profit_pct=Decimal("2.5"))
    sell(account, instrument, 10, "100.01")
    report_broker(account, instrument, -10)

    monitoring.monitoring_run()

    prices = {o.order_type: (o.side, o.stop_price or o.limit_price) for o in Order.objects.filter(source="monitor")}
    # Rounded away from the cost: 102.51025 → 102.52 stop, 97.50975 → 97.50 target.
    assert prices == {"STP": ("BUY", Decimal("102.52")), "LMT": ("BUY", Decimal("97.50"))}


def test_protective_orders_follow_a_smaller_position_and_are_cancelled_when_it_is_flat(account, instrument):
    set_policy(account, stop_loss_pct=Decimal("2"))
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 100)
    monitoring.monitoring_run()
    stop = Order.objects.get(source="monitor")
    order_mark_accepted(client_order_id=stop.client_order_id, order_id=7)

    sell(account, instrument, 40, "101")
    report_broker(account, instrument, 60)
    monitoring.monitoring_run()
    stop.refresh_from_db()
    # The smaller quantity waits for the broker's confirmation before it is the order's.
    assert (stop.quantity, stop.pending_quantity) == (Decimal("100"), Decimal("60"))
    order_apply_broker_status(
        client_order_id=stop.client_order_id, status="PreSubmitted", filled=0, remaining=60, avg_fill_price=None
    )
    stop.refresh_from_db()
    assert (stop.quantity, stop.pending_quantity) == (Decimal("60"), None)

    sell(account, instrument, 60, "101")
    report_broker(account, instrument, 0)
    report = monitoring.monitoring_run()
    stop.refresh_from_db()
    assert stop.status == OrderStatus.CANCEL_REQUESTED
    assert report.cancelled == [str(stop.client_order_id)]


def test_after_protection_ends_the_position_is_listed_unprotected_and_protected_again(account, instrument, trader):
    set_policy(account, stop_loss_pct=Decimal("2"))
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 100)
    listed = monitoring.unprotected_positions(user=trader)
    assert [(p.symbol, p.quantity, p.wants_stop_loss) for p in listed] == [("AAPL", Decimal("100"), True)]
    assert listed[0].seconds is not None and listed[0].seconds >= 0

    monitoring.monitoring_run()
    assert monitoring.unprotected_positions(user=trader) == []
    stop = Order.objects.get(source="monitor")
    order_mark_rejected(client_order_id=stop.client_order_id, code="broker.201", reason="rejected")
    assert len(monitoring.unprotected_positions(user=trader)) == 1

    monitoring.monitoring_run()
    assert Order.objects.filter(source="monitor").count() == 2


def test_a_position_whose_protection_the_broker_keeps_rejecting_is_left_to_the_desk_with_an_alert(account, instrument):
    set_policy(account, stop_loss_pct=Decimal("2"))
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 100)
    for _ in range(monitoring.PROTECTION_ATTEMPTS):
        monitoring.monitoring_run()
        for order in Order.objects.filter(source="monitor", status=OrderStatus.NEW):
            order_mark_rejected(client_order_id=order.client_order_id, code="broker.201", reason="no")

    monitoring.monitoring_run()
    monitoring.monitoring_run()

    assert Order.objects.filter(source="monitor").count() == monitoring.PROTECTION_ATTEMPTS
    assert Alert.objects.get(kind="protection.refused").severity == Alert.Severity.CRITICAL


def test_a_strategys_parameters_override_the_accounts_protection_policy(account, instrument):
    strategy = StrategyFactory(parameters={"stop_loss_pct": "5"})
    session = TradingSessionFactory(strategy=strategy, account=account, status="running", started_at=timezone.now())
    order = order_submit(
        actor=None, account=account, instrument=instrument, side="BUY", quantity=10, order_type="MKT",
        source="strategy", trading_session=session, via="test",
    )  # fmt: skip

    policy = monitoring.policy_for(account=account, instrument=instrument)

    assert order.trading_session == session
    assert policy.stop_loss_pct == Decimal("5") and policy.take_profit_pct is None


# --- stale and rejected orders -------------------------------------------------------------------------------


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


# --- daily loss and system alerts ----------------------------------------------------------------------------


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


def test_a_book_position_without_fills_compares_by_quantity(account, instrument):
    Position.objects.create(account=account, instrument=instrument, quantity=Decimal("0"))
    report_broker(account, instrument, 0)

    report = monitoring.monitoring_run()

    assert report.mismatches == [] and report.errors == []


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
