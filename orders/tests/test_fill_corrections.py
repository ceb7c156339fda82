"""IB's execution corrections replace the fill they correct (issue 15, finding 5).

An execId is ``<stem>.<revision>``; a correction keeps the stem and raises the revision. It was
booked as a second fill: a 16-share order showed 32 filled and the position doubled.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from orders.models import Fill, OrderEvent, OrderStatus, PendingCommission, Position
from orders.services import fill_apply_commission, fill_record
from orders.tests.factories import OrderFactory
from strategies.tests.factories import TradingSessionFactory

pytestmark = pytest.mark.django_db

D = Decimal
ORIGINAL = "0000e0d5.6553a1b2.01.01"
CORRECTION = "0000e0d5.6553a1b2.01.02"


def book(order, exec_id, quantity, price, *, side="BUY", at=None):
    return fill_record(
        exec_id=exec_id,
        account=order.account,
        instrument=order.instrument,
        side=side,
        quantity=D(quantity),
        price=D(price),
        executed_at=at or timezone.now(),
        order=order,
    )


def position_of(order) -> Position:
    return Position.objects.get(account=order.account, instrument=order.instrument)


@pytest.fixture
def order(account, instrument):
    return OrderFactory(account=account, instrument=instrument, quantity=D("16"), status=OrderStatus.SUBMITTED)


def test_a_correction_of_the_same_fill_replaces_it_instead_of_doubling_the_order_and_position(order):
    book(order, ORIGINAL, "16", "187.25")
    corrected = book(order, CORRECTION, "16", "187.25")

    assert [f.exec_id for f in Fill.objects.filter(order=order)] == [CORRECTION]
    assert corrected.exec_id == CORRECTION
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.average_fill_price) == (
        OrderStatus.FILLED,
        D("16"),
        D("187.25"),
    )
    assert position_of(order).quantity == D("16")
    event = OrderEvent.objects.get(order=order, kind="fill.corrected")
    assert event.data["before"]["exec_id"] == ORIGINAL and event.data["after"]["exec_id"] == CORRECTION
    assert AuditLog.objects.filter(action="fill.correct").count() == 1


def test_a_price_correction_moves_the_average_price_and_the_realized_pnl_of_later_fills(account, instrument, order):
    book(order, ORIGINAL, "16", "100")
    closing = OrderFactory(account=account, instrument=instrument, side="SELL", quantity=D("10"))
    sale = book(closing, "0000e0d5.6553a1b3.01.01", "10", "110", side="SELL")
    assert sale.realized_pnl == D("100")

    book(order, CORRECTION, "16", "104")

    sale.refresh_from_db()
    order.refresh_from_db()
    position = position_of(order)
    assert sale.realized_pnl == D("60") and position.realized_pnl == D("60")
    assert (position.quantity, position.average_cost) == (D("6"), D("104"))
    assert order.average_fill_price == D("104")
    assert list(position.lots.values_list("quantity", "price")) == [(D("6"), D("104"))]


def test_a_quantity_correction_lowers_the_orders_filled_quantity_and_the_position(order):
    book(order, ORIGINAL, "16", "100")
    book(order, CORRECTION, "12", "100")

    order.refresh_from_db()
    assert order.filled_quantity == D("12") and position_of(order).quantity == D("12")
    # The broker's word is taken for the quantity; the state never moves backwards (the event says so).
    assert order.status == OrderStatus.FILLED
    assert "state kept" in OrderEvent.objects.get(order=order, kind="fill.corrected").detail


def test_the_commission_follows_the_latest_exec_id(order):
    book(order, ORIGINAL, "16", "100")
    fill_apply_commission(exec_id=ORIGINAL, commission="1.00", currency="USD")
    book(order, CORRECTION, "16", "100")
    fill = Fill.objects.get(order=order)
    assert fill.commission is None

    fill_apply_commission(exec_id=CORRECTION, commission="1.10", currency="USD")
    # The corrected execution's report, redelivered late, neither overwrites nor waits as pending.
    assert fill_apply_commission(exec_id=ORIGINAL, commission="1.00", currency="USD") is None

    fill.refresh_from_db()
    assert fill.commission == D("1.10") and not PendingCommission.objects.exists()


def test_a_correction_whose_report_came_first_takes_it(order):
    book(order, ORIGINAL, "16", "100")
    fill_apply_commission(exec_id=CORRECTION, commission="1.10", currency="USD")
    book(order, CORRECTION, "16", "100")

    assert Fill.objects.get(order=order).commission == D("1.10") and not PendingCommission.objects.exists()


def test_the_original_after_its_correction_and_a_redelivered_correction_change_nothing(order):
    book(order, CORRECTION, "16", "101")
    assert book(order, ORIGINAL, "16", "100") is None
    assert book(order, CORRECTION, "16", "101") is None

    assert [f.exec_id for f in Fill.objects.filter(order=order)] == [CORRECTION]
    order.refresh_from_db()
    assert order.filled_quantity == D("16") and position_of(order).quantity == D("16")


def test_executions_of_other_stems_or_without_revisions_are_separate_fills(order):
    book(order, "0000e0d5.6553a1b2.01.01", "4", "100")
    book(order, "0000e0d5.6553a1b9.01.01", "4", "100")
    book(order, "exec-1", "4", "100")
    book(order, "exec-2", "4", "100")

    assert Fill.objects.filter(order=order).count() == 4
    assert position_of(order).quantity == D("16")


def test_a_trading_sessions_realized_pnl_follows_a_correction(account, instrument):
    session = TradingSessionFactory(account=account)
    buy = OrderFactory(account=account, instrument=instrument, quantity=D("10"), trading_session=session)
    sell = OrderFactory(account=account, instrument=instrument, side="SELL", quantity=D("10"), trading_session=session)
    at = timezone.now()
    book(buy, ORIGINAL, "10", "100", at=at)
    book(sell, "0000e0d5.6553a1b3.01.01", "10", "105", side="SELL", at=at + timedelta(seconds=1))
    session.refresh_from_db()
    assert session.realized_pnl == D("50")

    book(buy, CORRECTION, "10", "102", at=at)

    session.refresh_from_db()
    assert session.realized_pnl == D("30") and position_of(buy).realized_pnl == D("30")
