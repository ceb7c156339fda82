"""The runner's plain reads (``strategies.sql``) answer what the ORM reads they replace answer."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Case, DecimalField, F, Sum, When

from orders.models import Fill
from orders.tests.factories import FillFactory, InstrumentFactory, OrderFactory
from strategies import sql
from strategies.models import SessionDecision, TradingSession
from strategies.tests.factories import TradingSessionFactory

pytestmark = pytest.mark.django_db


def orm_net(session: TradingSession):
    signed = Case(
        When(side="BUY", then=F("quantity")),
        default=-F("quantity"),
        output_field=DecimalField(max_digits=20, decimal_places=4),
    )
    return Fill.objects.filter(order__trading_session=session, instrument_id=session.instrument_id).aggregate(
        net=Sum(signed)
    )["net"]


def test_the_locked_session_is_the_orms_with_its_account_strategy_and_instrument():
    session = TradingSessionFactory(mode="broker", status="running", max_position=50, state={"book": {"side": 1}})
    with transaction.atomic():
        read = sql.session_lock_for_order(session.pk)
    orm = TradingSession.objects.select_related("account", "instrument", "strategy").get(pk=session.pk)
    fields = [f.attname for f in TradingSession._meta.concrete_fields]
    assert [getattr(read, f) for f in fields] == [getattr(orm, f) for f in fields]
    for name in ("account", "strategy", "instrument"):
        assert TradingSession._meta.get_field(name).is_cached(read)
        related = getattr(read, name)
        assert [getattr(related, f.attname) for f in related._meta.concrete_fields] == [
            getattr(getattr(orm, name), f.attname) for f in related._meta.concrete_fields
        ]
    assert not read._state.adding


def test_a_session_without_an_instrument_reads_none_and_an_unknown_one_raises():
    session = TradingSessionFactory(instrument=None)
    with transaction.atomic():
        assert sql.session_lock_for_order(session.pk).instrument is None
        with pytest.raises(TradingSession.DoesNotExist):
            sql.session_lock_for_order(session.pk + 1000)


def test_the_decision_of_a_bar_is_the_orms_and_none_for_another_bar():
    session = TradingSessionFactory()
    other = TradingSessionFactory()
    made = SessionDecision.objects.create(session=session, bar_time=60, action="buy", outcome="placed")
    SessionDecision.objects.create(session=other, bar_time=60, action="sell", outcome="placed")
    found = sql.session_decision_of_bar(session.pk, 60)
    assert found == made and found.values == made.values and found.outcome == "placed"
    assert sql.session_decision_of_bar(session.pk, 120) is None


def test_the_net_position_counts_the_sessions_fills_in_its_instrument_only():
    session = TradingSessionFactory()
    assert sql.session_net_position(session.pk, session.instrument_id) is None
    order = OrderFactory(account=session.account, instrument=session.instrument, trading_session=session)
    elsewhere = OrderFactory(account=session.account, instrument=session.instrument)
    for side, quantity, on in (("BUY", "60.5", order), ("SELL", "20.25", order), ("BUY", "7", elsewhere)):
        FillFactory(account=session.account, instrument=session.instrument, order=on, side=side, quantity=quantity)
    FillFactory(account=session.account, instrument=InstrumentFactory(), order=order, side="BUY", quantity="3")
    net = sql.session_net_position(session.pk, session.instrument_id)
    assert net == orm_net(session) == Decimal("40.25")


def test_the_sessions_locked_for_a_record_are_the_orms_running_ones_of_the_owner():
    mine = TradingSessionFactory(status="running", lease_owner="me", last_bar_time=60, mode="broker")
    also = TradingSessionFactory(status="running", lease_owner="me")
    TradingSessionFactory(status="running", lease_owner="other")
    paused = TradingSessionFactory(status="paused", lease_owner="me")
    wanted = [mine.pk, also.pk, paused.pk]
    with transaction.atomic():
        read = sql.sessions_lock_for_record(wanted, owner="me")
    orm = list(
        TradingSession.objects.filter(pk__in=wanted, lease_owner="me", status="running")
        .select_related("account")
        .only("pk", "last_bar_time", "account__code", "account__id", "status", "lease_owner", "mode")
    )
    assert [s.pk for s in read] == [s.pk for s in orm]
    fields = ("pk", "last_bar_time", "status", "lease_owner", "mode", "account_id")
    assert [[getattr(s, f) for f in fields] for s in read] == [[getattr(s, f) for f in fields] for s in orm]
    assert [(s.account.pk, s.account.code) for s in read] == [(s.account.pk, s.account.code) for s in orm]
    assert read[0].get_deferred_fields() == orm[0].get_deferred_fields()


def test_the_broker_fills_are_the_orms_in_execution_order():
    from django.utils import timezone

    session, other = TradingSessionFactory(), TradingSessionFactory()
    now = timezone.now()
    for s, at, side in ((session, 2, "SELL"), (other, 1, "BUY"), (session, 1, "BUY"), (session, 1, "SELL")):
        order = OrderFactory(account=s.account, instrument=s.instrument, trading_session=s)
        FillFactory(
            account=s.account, instrument=s.instrument, order=order, side=side, executed_at=now.replace(second=at)
        )
    orm = list(
        Fill.objects.filter(order__trading_session_id__in=[session.pk, other.pk])
        .order_by("executed_at", "id")
        .values_list("order__trading_session_id", "side", "quantity", "price", "commission")
    )
    assert sql.broker_fill_rows([session.pk, other.pk]) == orm
    assert [row[1] for row in sql.broker_fill_rows([session.pk])] == ["BUY", "SELL", "SELL"]
