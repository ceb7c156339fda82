"""The monitor's incremental PnL books against fills that commit out of id order."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from orders import pnl, sql
from orders.models import Fill
from orders.monitoring import books
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
    tracker = books.PnLTracker()
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
    assert books.books_differ(tracker.books, books.full_recompute()) == []
    assert tracker.books[(account.pk, instrument.pk)].lots[0].quantity == Decimal("10")


@pytest.mark.django_db
def test_a_second_catch_up_without_new_fills_applies_nothing(account, instrument):
    tracker = books.PnLTracker()
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
    book = books.InstrumentBook()
    lots: list[pnl.Lot] = []
    realized = Decimal("0")
    for side, quantity, price in fills:
        books.apply_fill(book, side == "BUY", quantity, price, multiplier)
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
    computed = books.account_pnl({(1, 1): book}, {1: mark}, {1: multiplier})
    assert computed.get(1, books.AccountPnL(Decimal(0), Decimal(0))).unrealized == expected


def _fill_row_by_the_orm(fill: Fill) -> tuple:
    """The scaled tuple ``orders.sql.fill_rows`` reads, computed from the model's values (the oracle)."""
    executed = (fill.executed_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return (
        fill.pk,
        fill.account_id,
        fill.instrument_id,
        fill.side == "BUY",
        int(Decimal(fill.quantity).scaleb(4).to_integral_value(ROUND_HALF_UP)),
        int(Decimal(fill.price).scaleb(6).to_integral_value(ROUND_HALF_UP)),
        executed,
    )


@pytest.mark.django_db
def test_the_sql_reading_of_fills_matches_the_orm_one(account, instrument):
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
    in_sql = [sql.fill_rows(in_database_order=True, **lookup) for lookup in lookups]

    through_orm = [
        [_fill_row_by_the_orm(fill) for fill in Fill.objects.filter(**lookup).order_by("executed_at", "id")]
        for lookup in lookups
    ]

    assert in_sql == through_orm
    assert len(in_sql[0]) == 3


@pytest.mark.django_db
def test_the_sql_fill_id_floor_and_range_match_the_orm(account, instrument):
    fills = [record(account, instrument, "BUY", "1", "100") for _ in range(4)]
    ids = [fill.pk for fill in fills]
    cut = Fill.objects.get(pk=ids[2]).created_at

    assert sql.fill_id_floor(created_before=cut) == max(
        Fill.objects.filter(created_at__lt=cut).values_list("id", flat=True), default=0
    )
    assert sql.fill_id_floor(created_before=cut - timedelta(days=1)) == 0
    assert sorted(sql.fill_ids_between(above=ids[0], up_to=ids[2])) == list(
        Fill.objects.filter(id__gt=ids[0], id__lte=ids[2]).order_by("id").values_list("id", flat=True)
    )
