"""The monitor's incremental PnL books against fills that commit out of id order."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from orders import monitoring_pnl, pnl
from orders.models import Fill
from orders.services import fill_record
from orders.tests.factories import InstrumentFactory


def record(account, instrument, side, quantity, price):
    return fill_record(
        exec_id=f"e-{uuid.uuid4().hex[:12]}",
        account=account,
        instrument=instrument,
        side=side,
        quantity=Decimal(quantity),
        price=Decimal(price),
        executed_at=timezone.now(),
    )


@pytest.mark.django_db(transaction=True)
def test_a_fill_that_commits_after_one_with_a_larger_id_is_still_applied(account, instrument):
    other = InstrumentFactory(symbol="MSFT", last_price=Decimal("400"))
    tracker = monitoring_pnl.PnLTracker()
    tracker.catch_up()
    inserted, release = threading.Event(), threading.Event()
    slow_id = []

    def slow_transaction():
        try:
            with transaction.atomic():
                slow_id.append(record(account, instrument, "BUY", 10, "100").pk)
                inserted.set()
                release.wait(timeout=20)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_transaction)
    thread.start()
    assert inserted.wait(timeout=20)
    fast = record(account, other, "BUY", 5, "400")  # a larger id, committed first
    assert fast.pk > slow_id[0]

    assert tracker.catch_up() == 1
    release.set()
    thread.join(timeout=20)
    applied = tracker.catch_up()

    assert applied == 1
    assert Fill.objects.count() == 2
    assert monitoring_pnl.books_differ(tracker.books, monitoring_pnl.full_recompute()) == []
    assert tracker.books[(account.pk, instrument.pk)].lots[0].quantity == Decimal("10")


@pytest.mark.django_db
def test_a_second_catch_up_without_new_fills_applies_nothing(account, instrument):
    tracker = monitoring_pnl.PnLTracker()
    tracker.catch_up()
    record(account, instrument, "BUY", 10, "100")

    assert tracker.catch_up() == 1
    assert tracker.catch_up() == 0
    assert tracker.pnl({instrument.pk: Decimal("101")})[account.pk].unrealized == Decimal("10")


fills = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL"]),
        st.integers(min_value=1, max_value=10**8),  # quantity in 1/10,000
        st.integers(min_value=1, max_value=10**9),  # price in 1/1,000,000
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(fills=fills, multiplier=st.sampled_from([1, 100]))
def test_the_integer_fifo_engine_agrees_with_orders_pnl_exactly(fills, multiplier):
    book = monitoring_pnl.InstrumentBook()
    lots: list[pnl.Lot] = []
    realized = Decimal("0")
    for side, quantity, price in fills:
        monitoring_pnl.apply_fill(book, side == "BUY", quantity, price, multiplier)
        lots, gained = pnl.apply_fill(
            lots,
            side=side,
            quantity=Decimal(quantity).scaleb(-4),
            price=Decimal(price).scaleb(-6),
            multiplier=multiplier,
        )
        realized += gained

    assert book.realized == realized
    assert [(lot.quantity, lot.price) for lot in book.lots] == [(lot.quantity, lot.price) for lot in lots]
    mark = Decimal("123.456789")
    expected = pnl.unrealized(lots, mark, multiplier=multiplier)
    computed = monitoring_pnl.account_pnl({(1, 1): book}, {1: mark}, {1: multiplier})
    assert computed.get(1, monitoring_pnl.AccountPnL(Decimal(0), Decimal(0))).unrealized == expected


@pytest.mark.django_db
def test_the_orm_reading_of_fills_used_off_postgresql_matches_the_sql_one(account, instrument, monkeypatch):
    """The quick start's SQLite reads fills through the ORM; its rows must be PostgreSQL's exactly."""
    other = InstrumentFactory(symbol="MSFT", last_price=Decimal("400"))
    record(account, instrument, "BUY", "10.5", "100.125")
    record(account, other, "SELL", "3", "400.000001")
    record(account, instrument, "SELL", "0.0001", "99.99")
    lookups = [
        {},
        {"id__gt": 0},
        {"account_id__in": [account.pk]},
        {"account_id": account.pk, "instrument_id": other.pk},
    ]
    in_sql = [monitoring_pnl._fill_rows(in_database_order=True, **lookup) for lookup in lookups]

    monkeypatch.setattr(connection, "vendor", "sqlite")
    through_orm = [monitoring_pnl._fill_rows(in_database_order=True, **lookup) for lookup in lookups]

    assert through_orm == in_sql
    assert len(in_sql[0]) == 3
