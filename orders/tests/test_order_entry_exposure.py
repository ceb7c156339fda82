"""The one-query exposure read of order entry counts exactly what the separate selectors count."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders.models import Order, RiskLimit
from orders.selectors import (
    order_entry_exposure,
    orders_in_last_minute,
    position_quantity,
    realized_pnl_today,
    risk_limit_for_account,
    working_quantity,
)
from orders.services import fill_apply_commission, fill_record
from orders.tests.factories import InstrumentFactory, OrderFactory, PositionFactory

pytestmark = pytest.mark.django_db

# "Today" is the desk's local date, read from the clock at each call: tests about it run at a
# pinned midday, so that no run straddles New York's midnight between writing and reading.
DESK_MIDDAY = "2026-11-18 12:00:00-05:00"


def _separately(account, instrument, side):
    return (
        position_quantity(account=account, instrument=instrument),
        working_quantity(account=account, instrument=instrument, side=side),
        orders_in_last_minute(account=account),
        realized_pnl_today(account=account),
    )


def test_an_account_with_nothing_yet_reads_zero_everywhere_in_one_query(account, instrument):
    with CaptureQueriesContext(connection) as queries:
        exposure = order_entry_exposure(account=account, instrument=instrument, side="BUY")
    assert len(queries.captured_queries) == 1
    assert (exposure.position, exposure.working, exposure.orders_last_minute, exposure.realized_today) == (
        Decimal("0"),
        Decimal("0"),
        0,
        Decimal("0"),
    )
    assert not exposure.allowed_restricted


def _exposure(*, account, instrument, side):
    exposure = order_entry_exposure(account=account, instrument=instrument, side=side)
    assert exposure.limits is not None
    return exposure


@time_machine.travel(DESK_MIDDAY, tick=True)
def test_the_counts_match_the_separate_selectors(account, other_account, instrument):
    other_instrument = InstrumentFactory(symbol="MSFT")
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("-30"))
    OrderFactory(
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("100"),
        status="SUBMITTED",
        filled_quantity=Decimal("40"),
    )
    OrderFactory(
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("5"),
        status="FILLED",
        filled_quantity=Decimal("5"),
    )
    OrderFactory(account=account, instrument=instrument, side="SELL", quantity=Decimal("7"), status="SUBMITTED")
    OrderFactory(account=account, instrument=other_instrument, side="BUY", quantity=Decimal("9"), status="SUBMITTED")
    OrderFactory(account=other_account, instrument=instrument, side="BUY", quantity=Decimal("11"), status="SUBMITTED")
    old = OrderFactory(account=account, instrument=instrument, side="BUY", quantity=Decimal("1"), status="CANCELLED")
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    now = timezone.now()
    fill_record(
        exec_id="x1", account=account, instrument=instrument, side="BUY", quantity=10, price=10, executed_at=now
    )
    fill_record(
        exec_id="x2", account=account, instrument=instrument, side="SELL", quantity=10, price=12, executed_at=now
    )
    fill_apply_commission(exec_id="x1", commission="1.25", currency="USD")
    for side in ("BUY", "SELL"):
        exposure = _exposure(account=account, instrument=instrument, side=side)
        assert (
            exposure.position,
            exposure.working,
            exposure.orders_last_minute,
            exposure.realized_today,
        ) == _separately(account, instrument, side)
    buy = _exposure(account=account, instrument=instrument, side="BUY")
    assert buy.working == Decimal("60")
    assert buy.realized_today == Decimal("18.75")


def test_the_allowed_list_is_read_as_check_instrument_reads_it(account, instrument):
    listed, unlisted = InstrumentFactory(symbol="LISTED"), InstrumentFactory(symbol="UNLISTED")
    limits = risk_limit_for_account(account)
    exposure = _exposure(account=account, instrument=unlisted, side="BUY")
    assert (exposure.allowed_restricted, exposure.allowed_this) == (False, False)
    limits.allowed_instruments.add(listed)
    for target, allowed in ((listed, True), (unlisted, False)):
        exposure = _exposure(account=account, instrument=target, side="BUY")
        assert (exposure.allowed_restricted, exposure.allowed_this) == (True, allowed)


def test_an_account_without_a_limits_row_has_no_allowed_list(other_account, instrument):
    RiskLimit.objects.filter(account=other_account).delete()
    limits = risk_limit_for_account(other_account)
    assert limits.pk is None
    exposure = _exposure(account=other_account, instrument=instrument, side="SELL")
    assert (exposure.allowed_restricted, exposure.allowed_this) == (False, False)
    assert exposure.limits.pk is None and exposure.limits.account == other_account


def test_the_limits_read_with_the_counts_are_risk_limit_for_accounts_in_the_same_query(account, instrument):
    RiskLimit.objects.filter(account=account).update(approval_above_notional=Decimal("2500.5"), orders_per_minute=7)
    expected = risk_limit_for_account(account)

    with CaptureQueriesContext(connection) as queries:
        exposure = order_entry_exposure(account=account, instrument=instrument, side="BUY")

    assert len(queries.captured_queries) == 1
    fields = [field.attname for field in RiskLimit._meta.concrete_fields]
    assert [getattr(exposure.limits, name) for name in fields] == [getattr(expected, name) for name in fields]
    assert exposure.limits.account is account


def test_a_pending_increase_counts_at_its_larger_quantity_in_both_reads(account, instrument):
    OrderFactory(
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("100"),
        pending_quantity=Decimal("250"),
        status="SUBMITTED",
        filled_quantity=Decimal("10"),
    )
    OrderFactory(
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("50"),
        pending_quantity=Decimal("20"),
        status="SUBMITTED",
    )
    exposure = order_entry_exposure(account=account, instrument=instrument, side="BUY")
    assert exposure.working == Decimal("290")  # (250 - 10) + 50: a pending decrease is not yet real
    assert working_quantity(account=account, instrument=instrument, side="BUY") == Decimal("290")
