"""Review finding 13: a commission report that reaches the bridge before its fill is kept, not lost."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from orders.exceptions import FillInvalid
from orders.models import Fill, OrderStatus, PendingCommission
from orders.services import fill_apply_commission, fill_record
from orders.tests.factories import OrderFactory

D = Decimal
IB_NO_VALUE = 1.7976931348623157e308


def record(order, exec_id, quantity="10"):
    return fill_record(
        exec_id=exec_id,
        account=order.account,
        instrument=order.instrument,
        side="BUY",
        quantity=D(quantity),
        price=D("100"),
        executed_at=timezone.now(),
        order=order,
    )


@pytest.fixture
def order(account, instrument):
    return OrderFactory(account=account, instrument=instrument, quantity=D("10"), status=OrderStatus.SUBMITTED)


@pytest.mark.django_db
def test_a_commission_before_its_fill_is_kept_and_attached_when_the_fill_is_recorded(order):
    assert fill_apply_commission(exec_id="e1", commission="1.25", currency="USD", realized_pnl=IB_NO_VALUE) is None
    early = PendingCommission.objects.get(exec_id="e1")
    assert (early.commission, early.currency, early.realized_pnl) == (D("1.25"), "USD", None)

    fill = record(order, "e1")
    fill.refresh_from_db()
    assert (fill.commission, fill.commission_currency, fill.broker_realized_pnl) == (D("1.25"), "USD", None)
    assert not PendingCommission.objects.exists()


@pytest.mark.django_db
def test_a_commission_after_its_fill_attaches_at_once_and_stores_nothing_apart(order):
    record(order, "e1")
    fill = fill_apply_commission(exec_id="e1", commission="0.35", currency="USD", realized_pnl="-2.5")
    assert (fill.commission, fill.broker_realized_pnl) == (D("0.35"), D("-2.5"))
    assert not PendingCommission.objects.exists()


@pytest.mark.django_db
def test_a_duplicated_early_commission_keeps_one_row_and_the_same_values(order):
    for _ in range(2):
        assert fill_apply_commission(exec_id="e1", commission="1.25", currency="USD") is None
    assert PendingCommission.objects.filter(exec_id="e1").count() == 1
    record(order, "e1")
    # The report again after the fill: same values, nothing stored apart.
    fill = fill_apply_commission(exec_id="e1", commission="1.25", currency="USD")
    assert (fill.commission, Fill.objects.get(exec_id="e1").commission) == (D("1.25"), D("1.25"))
    assert not PendingCommission.objects.exists()


@pytest.mark.django_db
def test_a_duplicated_fill_does_not_consume_a_later_commission(order):
    record(order, "e1")
    assert record(order, "e1") is None
    fill_apply_commission(exec_id="e1", commission="1", currency="USD")
    assert Fill.objects.get(exec_id="e1").commission == D("1")


@pytest.mark.django_db
@pytest.mark.parametrize("commission", ["NaN", "abc", "Infinity"])
def test_a_commission_that_is_not_a_number_is_refused_and_stores_nothing(commission):
    with pytest.raises(FillInvalid):
        fill_apply_commission(exec_id="e1", commission=commission, currency="USD")
    assert not PendingCommission.objects.exists()


def _in_thread(target, failures):
    def run():
        try:
            target()
        except Exception as error:  # surfaced by the test; a thread must not swallow it
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("first", ["fill", "commission"])
def test_a_fill_and_its_commission_in_concurrent_transactions_end_attached(account, instrument, first):
    """The first holds its transaction open while the second runs: neither may miss the other."""
    order = OrderFactory(account=account, instrument=instrument, quantity=D("10"), status=OrderStatus.SUBMITTED)
    started, failures = threading.Event(), []

    def write(kind):
        if kind == "fill":
            record(order, "race-1")
        else:
            fill_apply_commission(exec_id="race-1", commission="0.5", currency="USD")

    def slow_first():
        with transaction.atomic():
            write(first)
            started.set()
            time.sleep(0.5)  # the second is now waiting on the execution's lock (or, unlocked, misses us)

    second = "commission" if first == "fill" else "fill"
    threads = [_in_thread(slow_first, failures)]
    assert started.wait(timeout=10)
    threads.append(_in_thread(lambda: write(second), failures))
    for thread in threads:
        thread.join(timeout=20)
    assert not failures
    assert Fill.objects.get(exec_id="race-1").commission == D("0.5")
    assert not PendingCommission.objects.exists()
