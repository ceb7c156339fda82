"""The monitoring run against the real PostgreSQL and Redis: broker positions against the book, and the
protective orders a position gets."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.exceptions import PermissionRequired
from accounts.models import Alert, AuditLog, OutboxMessage
from accounts.services import account_resume, position_mismatch_acknowledge
from orders import monitoring
from orders.models import Order, OrderEvent, OrderStatus, Position
from orders.services import (
    order_apply_broker_status,
    order_mark_accepted,
    order_mark_rejected,
    order_submit,
)
from orders.tests.helpers import buy, report_broker, sell, set_policy
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_monitor_state")]


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


def test_a_book_position_without_fills_compares_by_quantity(account, instrument):
    Position.objects.create(account=account, instrument=instrument, quantity=Decimal("0"))
    report_broker(account, instrument, 0)

    report = monitoring.monitoring_run()

    assert report.mismatches == [] and report.errors == []
