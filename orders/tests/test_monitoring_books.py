"""The monitoring run against the real PostgreSQL and Redis: PnL points, the incremental books against the full
recompute, and a running session's metrics."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Alert
from orders import monitoring
from orders.models import PnLPoint
from orders.monitoring import books
from orders.services import (
    order_submit,
)
from orders.tests.helpers import buy, sell
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_monitor_state")]


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
