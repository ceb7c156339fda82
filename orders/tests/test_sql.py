"""The order services' statements in ``orders.sql`` answer as the ORM does."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.tests.factories import UserFactory
from orders import sql
from orders.models import Instrument, Order, OrderEvent
from orders.services import OrderEventKind, order_event_record
from orders.tests.factories import InstrumentFactory, OrderFactory

pytestmark = pytest.mark.django_db


def test_the_order_of_a_client_order_id_is_the_one_the_orm_finds_and_its_row_is_locked(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    OrderFactory(account=account, instrument=instrument)

    with transaction.atomic():
        found = sql.order_lock_by_client_id(order.client_order_id)

    assert found == Order.objects.select_for_update().filter(client_order_id=order.client_order_id).first()
    assert (found.status, found.quantity, found.account_id) == (order.status, order.quantity, order.account_id)
    assert sql.order_lock_by_client_id(uuid.uuid4()) is None


def test_the_unlocked_order_of_a_client_order_id_is_the_one_the_orm_finds(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    OrderFactory(account=account, instrument=instrument)

    found = sql.order_by_client_id(order.client_order_id)

    assert found == Order.objects.filter(client_order_id=order.client_order_id).first()
    assert (found.status, found.quantity, found.account_id) == (order.status, order.quantity, order.account_id)
    assert sql.order_by_client_id(uuid.uuid4()) is None


def test_an_order_event_is_seen_by_its_message_id_as_the_orm_sees_it(account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    message_id, other = uuid.uuid4(), uuid.uuid4()
    order_event_record(order=order, kind=OrderEventKind.STATUS, message_id=message_id)

    for candidate in (message_id, other):
        assert sql.order_event_seen(candidate) == OrderEvent.objects.filter(message_id=candidate).exists()


def test_a_symbol_names_the_active_instrument_first_then_the_oldest_as_the_orm_orders_them(db):
    inactive = InstrumentFactory(symbol="DUAL", exchange="ARCA", active=False)
    InstrumentFactory(symbol="DUAL", exchange="SMART", active=True)
    InstrumentFactory(symbol="DUAL", exchange="ISLAND", active=True)

    expected = Instrument.objects.filter(symbol="DUAL").order_by("-active", "id").first()
    assert sql.instrument_by_symbol("DUAL") == expected
    assert expected != inactive
    assert sql.instrument_by_symbol("NONE") is None


@pytest.mark.django_db(transaction=True)
def test_the_execution_lock_is_held_until_the_transaction_ends():
    with transaction.atomic():
        sql.execution_lock("0000e0d5.00000001")
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
            assert cursor.fetchone()[0] == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        assert cursor.fetchone()[0] == 0


def test_an_order_entered_alike_is_the_latest_one_the_orms_filter_finds(account, other_account, instrument):
    person, other_person = UserFactory(), UserFactory()
    alike = {"side": "BUY", "quantity": Decimal("7"), "order_type": "LMT", "limit_price": Decimal("100"), "tif": "DAY"}
    older = OrderFactory(account=account, instrument=instrument, created_by=person, **alike)
    latest = OrderFactory(account=account, instrument=instrument, created_by=person, **alike)
    OrderFactory(account=account, instrument=instrument, created_by=person, **{**alike, "limit_price": Decimal("101")})
    OrderFactory(account=other_account, instrument=instrument, created_by=person, **alike)
    OrderFactory(account=account, instrument=instrument, created_by=other_person, **alike)
    market = {**alike, "order_type": "MKT", "limit_price": None}
    unpriced = OrderFactory(account=account, instrument=instrument, created_by=person, **market)
    Order.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(seconds=5))

    def orm(fields, since):
        return (
            Order.objects.filter(
                account=account,
                created_by=person,
                instrument=instrument,
                side=fields["side"],
                quantity=fields["quantity"],
                order_type=fields["order_type"],
                limit_price=fields["limit_price"],
                stop_price=None,
                tif=fields["tif"],
                created_at__gt=since,
            )
            .order_by("-created_at", "-id")
            .first()
        )

    def found(fields, since):
        return sql.order_entered_alike(
            account_id=account.pk,
            created_by_id=person.pk,
            instrument_id=instrument.pk,
            stop_price=None,
            since=since,
            **fields,
        )

    for fields, since, expected in (
        (alike, timezone.now() - timedelta(seconds=30), latest),
        (market, timezone.now() - timedelta(seconds=30), unpriced),
        ({**alike, "quantity": Decimal("8")}, timezone.now() - timedelta(seconds=30), None),
        (alike, timezone.now() + timedelta(seconds=1), None),
    ):
        assert found(fields, since) == orm(fields, since) == expected
    Order.objects.filter(pk=latest.pk).delete()
    assert found(alike, timezone.now() - timedelta(seconds=30)) == older
