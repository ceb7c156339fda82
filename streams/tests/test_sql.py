"""The hand-written statements of ``streams.sql`` answer what the ORM answers (the blotter rows'
read is proven in ``test_rows.py``)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import F
from django.forms.models import model_to_dict
from django.utils import timezone

from accounts.models import AccountValue, BrokerAccount, OutboxMessage
from orders.models import Order, OrderStatus, PnLPoint
from orders.tests.factories import OrderFactory
from orders.transitions import WORKING_STATUSES
from streams import sql

pytestmark = pytest.mark.django_db


def _outbox(*, client_order_id: str = "", type: str = "order.place", stream: str = "commands", **fields):
    data = {"client_order_id": client_order_id} if client_order_id else {"account": "DU0000001"}
    return OutboxMessage.objects.create(stream=stream, type=type, data=data, **fields)


def test_the_outbox_claim_marks_and_returns_what_the_orm_would_claim():
    now = timezone.now()
    published = _outbox(client_order_id=str(uuid.uuid4()), published_at=now)
    waiting = [_outbox(client_order_id=str(uuid.uuid4())) for _ in range(3)]
    risk = _outbox(stream="risk", type="risk.limits")
    expected = list(OutboxMessage.objects.filter(published_at__isnull=True).order_by("id")[:3])

    with transaction.atomic():
        claimed = sql.outbox_claim(3)

    assert [row.pk for row in claimed] == [row.pk for row in expected] == [row.pk for row in waiting]
    for row in claimed:
        stored = OutboxMessage.objects.get(pk=row.pk)
        assert model_to_dict(row) == model_to_dict(stored)
        assert stored.published_at is not None and stored.publish_count == 1 and stored.acknowledged_at is None
    (risk_claimed,) = sql.outbox_claim(3)
    stored = OutboxMessage.objects.get(pk=risk.pk)
    assert risk_claimed.pk == risk.pk and stored.acknowledged_at is not None  # its SET is its receipt
    assert OutboxMessage.objects.get(pk=published.pk).publish_count == 0
    assert sql.outbox_claim(3) == []


def test_marking_commands_received_marks_what_the_orms_filter_finds():
    client_order_id = str(uuid.uuid4())
    now = timezone.now()
    place = _outbox(client_order_id=client_order_id, published_at=now)
    cancel = _outbox(client_order_id=client_order_id, type="order.cancel")
    other = _outbox(client_order_id=str(uuid.uuid4()), published_at=now)
    types = ("order.place", "order.cancel")

    def orm(published: bool):
        return OutboxMessage.objects.filter(
            acknowledged_at__isnull=True,
            type__in=types,
            data__client_order_id=client_order_id,
            published_at__isnull=not published,
        )

    expected = (orm(True).count(), orm(False).exists())
    assert sql.outbox_mark_received(client_order_id, types, now=now) == expected == (1, True)
    assert OutboxMessage.objects.get(pk=place.pk).acknowledged_at == now
    assert OutboxMessage.objects.get(pk=cancel.pk).acknowledged_at is None
    assert OutboxMessage.objects.get(pk=other.pk).acknowledged_at is None

    OutboxMessage.objects.filter(pk=cancel.pk).update(published_at=F("created_at"))
    expected = (orm(True).count(), orm(False).exists())
    assert sql.outbox_mark_received(client_order_id, types, now=now) == expected == (1, False)
    assert sql.outbox_mark_received(client_order_id, types, now=now) == (0, False)


def test_the_accounts_of_rows_carry_the_working_count_and_the_latest_point_today_the_orm_finds(
    account, other_account, instrument
):
    for status in (OrderStatus.NEW, OrderStatus.SUBMITTED, OrderStatus.FILLED, OrderStatus.CANCELLED):
        OrderFactory(account=account, instrument=instrument, status=status)
    OrderFactory(account=other_account, instrument=instrument, status=OrderStatus.NEW)
    now = timezone.now()
    day_start = now - timedelta(hours=3)
    for at, realized in ((day_start - timedelta(minutes=1), 1), (now - timedelta(hours=1), 2), (now, 3)):
        PnLPoint.objects.create(account=account, at=at, realized_pnl=Decimal(realized), unrealized_pnl=Decimal("0.5"))
    PnLPoint.objects.create(account=other_account, at=now + timedelta(minutes=1), realized_pnl=4, unrealized_pnl=0)
    statuses = sorted(str(value) for value in WORKING_STATUSES)

    found = sql.accounts_for_rows(
        pks=[other_account.pk, account.pk], working_statuses=statuses, day_start=day_start, now=now
    )

    expected = BrokerAccount.objects.filter(pk__in=[account.pk, other_account.pk]).order_by("pk")
    assert [found_account for found_account, _, _ in found] == list(expected)
    for checked, open_orders, latest in found:
        assert model_to_dict(checked) == model_to_dict(BrokerAccount.objects.get(pk=checked.pk))
        assert open_orders == Order.objects.filter(account=checked, status__in=statuses).count()
        orm_latest = (
            PnLPoint.objects.filter(account=checked, at__gte=day_start, at__lte=now).order_by("-at", "-pk").first()
        )
        assert latest == orm_latest
        if latest is not None:
            assert (latest.at, latest.realized_pnl, latest.unrealized_pnl) == (
                orm_latest.at,
                orm_latest.realized_pnl,
                orm_latest.unrealized_pnl,
            )
    assert [(open_orders, latest is None) for _, open_orders, latest in found] == [(2, False), (1, True)]
    assert sql.accounts_for_rows(pks=[], working_statuses=statuses, day_start=day_start, now=now) == []


def test_the_account_values_of_rows_are_the_ones_the_orm_filters(account, other_account):
    now = timezone.now()
    for owner, tag in (
        (account, "NetLiquidation"),
        (account, "BuyingPower"),
        (account, "Leverage"),
        (other_account, "NetLiquidation"),
    ):
        AccountValue.objects.create(account=owner, tag=tag, value="1000.5", currency="USD", updated_at=now)
    tags = ("NetLiquidation", "BuyingPower")

    found = sql.account_values_for_rows(pks=[account.pk], tags=tags)

    expected = AccountValue.objects.filter(account=account, tag__in=tags)
    assert sorted(found, key=lambda v: v.pk) == sorted(expected, key=lambda v: v.pk)
    assert {model_to_dict(v)["tag"] for v in found} == set(tags)
    assert all(model_to_dict(v) == model_to_dict(AccountValue.objects.get(pk=v.pk)) for v in found)
    assert sql.account_values_for_rows(pks=[], tags=tags) == []


def test_the_sessions_of_rows_are_the_orms_with_their_strategy_account_instrument_and_version():
    from strategies.models import TradingSession
    from strategies.tests.factories import TradingSessionFactory

    first = TradingSessionFactory(mode="broker", state={"book": {"side": -1}}, last_bar_time=1_772_461_800)
    bare = TradingSessionFactory(instrument=None, version=None)
    TradingSessionFactory()

    found = {s.pk: s for s in sql.sessions_for_rows([first.pk, bare.pk])}

    orm = TradingSession.objects.select_related("strategy", "account", "instrument", "version")
    assert set(found) == {first.pk, bare.pk}
    for expected in orm.filter(pk__in=[first.pk, bare.pk]):
        read = found[expected.pk]
        assert model_to_dict(read) == model_to_dict(expected)
        for name in ("strategy", "account", "instrument", "version"):
            assert TradingSession._meta.get_field(name).is_cached(read)
            mine, theirs = getattr(read, name), getattr(expected, name)
            assert (model_to_dict(mine) if mine else None) == (model_to_dict(theirs) if theirs else None)
    assert found[bare.pk].instrument is None and found[bare.pk].version is None
    assert sql.sessions_for_rows([]) == []
