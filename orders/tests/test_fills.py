"""Fills: idempotent by exec_id (also under concurrency), FIFO positions, the order following its fills."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import AuditLog
from orders.exceptions import FillInvalid
from orders.models import Fill, OrderStatus, Position
from orders.pnl import fifo_replay
from orders.services import fill_apply_commission, fill_record, order_apply_broker_status
from orders.tests.factories import InstrumentFactory, OrderFactory
from orders.tests.helpers import row_counts
from strategies.tests.factories import TradingSessionFactory

D = Decimal


def record(account, instrument, exec_id, side, quantity, price, *, order=None, at=None):
    return fill_record(
        exec_id=exec_id,
        account=account,
        instrument=instrument,
        side=side,
        quantity=D(quantity),
        price=D(price),
        executed_at=at or timezone.now(),
        order=order,
    )


def position_of(account, instrument) -> Position:
    return Position.objects.get(account=account, instrument=instrument)


@pytest.mark.django_db
def test_a_duplicate_exec_id_is_a_recorded_no_op(account, instrument):
    assert record(account, instrument, "exec-1", "BUY", 100, "10") is not None
    before = row_counts()
    assert record(account, instrument, "exec-1", "BUY", 100, "10") is None
    assert row_counts() == before
    assert position_of(account, instrument).quantity == D("100")


@pytest.mark.django_db
def test_a_long_position_is_opened_added_to_and_partly_closed_fifo(account, instrument):
    record(account, instrument, "e1", "BUY", 100, "10")
    record(account, instrument, "e2", "BUY", 100, "11")
    position = position_of(account, instrument)
    assert (position.quantity, position.average_cost, position.realized_pnl) == (D("200"), D("10.5"), D("0"))
    closing = record(account, instrument, "e3", "SELL", 150, "12")
    position = position_of(account, instrument)
    assert closing.realized_pnl == D("250")
    assert (position.quantity, position.average_cost, position.realized_pnl) == (D("50"), D("11"), D("250"))
    assert [(lot.quantity, lot.price) for lot in position.lots.all()] == [(D("50"), D("11"))]


@pytest.mark.django_db
def test_a_short_position_covered_at_a_loss(account, instrument):
    record(account, instrument, "e1", "SELL", 50, "20")
    record(account, instrument, "e2", "BUY", 50, "21")
    position = position_of(account, instrument)
    assert (position.quantity, position.realized_pnl, position.lots.count()) == (D("0"), D("-50"), 0)
    assert position.average_cost == 0


@pytest.mark.django_db
def test_a_sale_through_zero_leaves_a_short_lot_at_the_sale_price(account, instrument):
    record(account, instrument, "e1", "BUY", 100, "10")
    record(account, instrument, "e2", "SELL", 130, "9")
    position = position_of(account, instrument)
    assert (position.quantity, position.realized_pnl, position.average_cost) == (D("-30"), D("-100"), D("9"))
    lot = position.lots.get()
    assert (lot.quantity, lot.price, lot.fill.exec_id) == (D("-30"), D("9"), "e2")


@pytest.mark.django_db
def test_the_stored_book_equals_a_replay_of_its_fills(account, instrument):
    script = [
        ("BUY", 30, "10"),
        ("BUY", 20, "10.5"),
        ("SELL", 60, "11"),
        ("SELL", 5, "12"),
        ("BUY", 40, "9.5"),
        ("SELL", 3, "9.75"),
    ]
    start = timezone.now()
    for n, (side, quantity, price) in enumerate(script):
        record(account, instrument, f"e{n}", side, quantity, price, at=start + timedelta(seconds=n))
    fills = Fill.objects.filter(account=account, instrument=instrument).order_by("executed_at")
    lots, realized = fifo_replay(fills)
    position = position_of(account, instrument)
    assert position.realized_pnl == realized
    assert [(lot.quantity, lot.price) for lot in position.lots.all()] == [(lot.quantity, lot.price) for lot in lots]
    assert sum(fill.realized_pnl for fill in fills) == realized


@pytest.mark.django_db
def test_the_multiplier_scales_realized_pnl(account):
    option = InstrumentFactory(symbol="AAPL  250117C00200000", sec_type="OPT", multiplier=100)
    record(account, option, "o1", "BUY", 1, "2.50")
    record(account, option, "o2", "SELL", 1, "3.00")
    assert position_of(account, option).realized_pnl == D("50")


@pytest.mark.django_db
def test_fills_of_a_known_order_move_its_filled_quantity_average_and_state(account, instrument):
    order = OrderFactory(account=account, instrument=instrument, quantity=D("100"), status=OrderStatus.SUBMITTED)
    record(account, instrument, "e1", "BUY", 40, "10.00", order=order)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.average_fill_price) == ("PARTIALLY_FILLED", D("40"), D("10"))
    record(account, instrument, "e2", "BUY", 60, "10.50", order=order)
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.average_fill_price) == ("FILLED", D("100"), D("10.3"))
    assert list(order.events.values_list("kind", flat=True)) == ["order.filled", "order.filled"]


@pytest.mark.django_db
def test_a_fill_and_a_cumulative_status_for_the_same_shares_do_not_double_count(account, instrument):
    order = OrderFactory(account=account, instrument=instrument, quantity=D("100"), status=OrderStatus.SUBMITTED)
    order_apply_broker_status(
        client_order_id=order.client_order_id, status="Submitted", filled=40, remaining=60, avg_fill_price="10"
    )
    record(account, instrument, "e1", "BUY", 40, "10.00", order=order)
    order.refresh_from_db()
    assert order.filled_quantity == D("40")


@pytest.mark.django_db
def test_a_fill_updates_its_trading_sessions_metrics(account, instrument):
    session = TradingSessionFactory(account=account, status="running")
    buy = OrderFactory(account=account, instrument=instrument, trading_session=session, status="SUBMITTED")
    sell = OrderFactory(
        account=account, instrument=instrument, trading_session=session, side="SELL", status="SUBMITTED"
    )
    record(account, instrument, "e1", "BUY", 100, "10", order=buy)
    record(account, instrument, "e2", "SELL", 100, "9", order=sell)
    session.refresh_from_db()
    assert (session.trade_count, session.win_count, session.realized_pnl, session.max_drawdown) == (
        2,
        0,
        D("-100"),
        D("100"),
    )


@pytest.mark.django_db
def test_each_fill_writes_an_audit_row(account, instrument):
    record(account, instrument, "e1", "BUY", 100, "10")
    audit = AuditLog.objects.get(action="fill.record")
    assert (audit.account, audit.after["exec_id"], audit.after["position"]) == (account, "e1", "100")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("side", "quantity", "price"), [("HOLD", "1", "1"), ("BUY", "0", "1"), ("BUY", "-1", "1"), ("BUY", "1", "-1")]
)
def test_a_bad_fill_is_refused_and_leaves_no_rows(account, instrument, side, quantity, price):
    with pytest.raises(FillInvalid):
        record(account, instrument, "bad", side, quantity, price)
    assert row_counts() == {key: 0 for key in row_counts()}


@pytest.mark.django_db
def test_a_fill_for_another_accounts_order_is_refused(account, other_account, instrument):
    order = OrderFactory(account=other_account, instrument=instrument)
    with pytest.raises(FillInvalid):
        record(account, instrument, "e1", "BUY", 1, "1", order=order)


@pytest.mark.django_db
def test_a_commission_report_attaches_to_its_fill_and_ib_no_value_pnl_is_empty(account, instrument):
    record(account, instrument, "e1", "BUY", 100, "10")
    fill = fill_apply_commission(exec_id="e1", commission="1.25", currency="USD", realized_pnl=1.7976931348623157e308)
    assert (fill.commission, fill.commission_currency, fill.broker_realized_pnl) == (D("1.25"), "USD", None)
    fill = fill_apply_commission(exec_id="e1", commission="1.25", currency="USD", realized_pnl="-3.5")
    assert fill.broker_realized_pnl == D("-3.5")
    assert fill_apply_commission(exec_id="missing", commission="1", currency="USD") is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_deliveries_of_one_execution_record_one_fill(account, instrument):
    order = OrderFactory(account=account, instrument=instrument, quantity=D("100"), status=OrderStatus.SUBMITTED)
    barrier = threading.Barrier(2, timeout=10)
    results, failures = [], []

    def deliver():
        try:
            barrier.wait()
            results.append(record(account, instrument, "race-1", "BUY", 100, "10", order=order))
        except Exception as error:  # surfaced below; a thread must not swallow it
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not failures
    assert sorted(result is None for result in results) == [False, True]
    assert Fill.objects.filter(exec_id="race-1").count() == 1
    position = position_of(account, instrument)
    assert (position.quantity, position.lots.count()) == (D("100"), 1)
    order.refresh_from_db()
    assert (order.filled_quantity, order.status) == (D("100"), OrderStatus.FILLED)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_fills_of_one_position_all_count(account, instrument):
    barrier = threading.Barrier(4, timeout=10)
    failures = []

    def deliver(n):
        try:
            barrier.wait()
            record(account, instrument, f"par-{n}", "BUY" if n % 2 else "SELL", 10 * (n + 1), "10")
        except Exception as error:
            failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not failures
    # +20 +40 -10 -30
    assert position_of(account, instrument).quantity == D("20")
