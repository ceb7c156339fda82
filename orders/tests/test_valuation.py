"""Positions are valued at the latest market price (stale when old); the desk's day PnL per account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from orders.models import PnLPoint
from orders.services import instrument_record_price
from orders.tests.factories import PositionFactory
from orders.valuation import account_day_pnl, mark_price, position_valuation, price_is_stale
from streams import rows

pytestmark = pytest.mark.django_db

# 10:00 in New York (the desk's zone in the test settings), 15:00 UTC.
MORNING = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def position(account, instrument):
    # Only the seed's price, never a market one.
    instrument.last_price_at = None
    instrument.save(update_fields=["last_price_at"])
    return PositionFactory(account=account, instrument=instrument, quantity=Decimal("10"), average_cost=Decimal("100"))


def test_a_position_is_valued_at_the_price_the_market_moved_it_to(position):
    instrument = position.instrument
    with time_machine.travel(MORNING, tick=False):
        instrument_record_price(instrument=instrument, price=Decimal("103"), at=MORNING)
        first = rows.position_row(position)["ctx"]
        instrument_record_price(instrument=instrument, price=Decimal("98.5"), at=MORNING + timedelta(seconds=1))
        position.instrument.refresh_from_db()
        second = rows.position_row(position)["ctx"]

    assert (first["last_price"], first["unrealized_pnl"], first["market_value"]) == ("103", "30.00", "1,030.00")
    assert (second["last_price"], second["unrealized_pnl"], second["market_value"]) == ("98.5", "-15.00", "985.00")
    assert second["unrealized_negative"] and not second["price_stale"]


def test_an_older_tick_does_not_move_the_price_back(position):
    instrument = position.instrument
    instrument_record_price(instrument=instrument, price=Decimal("103"), at=MORNING)
    assert not instrument_record_price(instrument=instrument, price=Decimal("90"), at=MORNING - timedelta(seconds=1))
    position.instrument.refresh_from_db()
    assert position_valuation(position=position, now=MORNING).price == Decimal("103")


def test_a_price_older_than_the_limit_is_used_and_said_to_be_stale(position, settings):
    settings.PRICE_STALE_SECONDS = 60
    instrument_record_price(instrument=position.instrument, price=Decimal("103"), at=MORNING)

    with time_machine.travel(MORNING + timedelta(seconds=60), tick=False):
        fresh = rows.position_row(position)["ctx"]
    with time_machine.travel(MORNING + timedelta(seconds=61), tick=False):
        stale = rows.position_row(position)["ctx"]
        html = _render(stale)

    assert not fresh["price_stale"] and stale["price_stale"]
    assert stale["unrealized_pnl"] == "30.00"
    # The row says when the price was seen, in the desk's zone (10:00 in New York).
    assert stale["last_price_at"] == "2026-03-02 10:00:00"
    assert "price-stale" in html and "stale" in html


def test_a_price_never_stamped_is_stale_and_no_price_is_no_valuation(position):
    assert price_is_stale(priced_at=None, now=MORNING)
    position.instrument.last_price = None
    value = position_valuation(position=position, now=MORNING)
    assert (value.price, value.unrealized, value.market_value) == (None, None, None)


def test_a_tick_marks_at_its_last_trade_else_its_midpoint():
    assert mark_price(last=Decimal("101"), bid=Decimal("100"), ask=Decimal("103")) == Decimal("101")
    assert mark_price(last=None, bid=Decimal("100"), ask=Decimal("103")) == Decimal("101.5")
    assert mark_price(last=None, bid=Decimal("100"), ask=None) is None


def test_the_desk_shows_each_accounts_day_pnl_from_the_points_of_the_monitoring_loop(account, other_account):
    # Yesterday's last point is the day's baseline; today's latest point is where the account is now.
    PnLPoint.objects.create(
        account=account, at=MORNING - timedelta(hours=20), realized_pnl=Decimal("50"), unrealized_pnl=Decimal("10")
    )
    PnLPoint.objects.create(account=account, at=MORNING, realized_pnl=Decimal("70"), unrealized_pnl=Decimal("-35"))
    PnLPoint.objects.create(
        account=account, at=MORNING + timedelta(minutes=5), realized_pnl=Decimal("80"), unrealized_pnl=Decimal("-40")
    )

    with time_machine.travel(MORNING + timedelta(minutes=6), tick=False):
        day = account_day_pnl(account=account)
        row = rows.account_row(account)["ctx"]
        none_yet = rows.account_row(other_account)["ctx"]

    assert day.pnl == Decimal("-20") and day.at == MORNING + timedelta(minutes=5)
    assert row["daily_pnl"] == "-20.00" and row["daily_pnl_negative"]
    assert row["daily_pnl_at"] == "10:05:00"
    assert none_yet["daily_pnl"] == ""


def test_the_day_pnl_starts_at_the_desks_midnight_not_utcs(account):
    # 23:30 in New York on 1 March is already 2 March in UTC: it belongs to New York's 1 March.
    PnLPoint.objects.create(
        account=account, at=datetime(2026, 3, 2, 4, 30, tzinfo=UTC), realized_pnl=Decimal("5"), unrealized_pnl=0
    )
    with time_machine.travel(datetime(2026, 3, 2, 4, 45, tzinfo=UTC), tick=False):
        assert account_day_pnl(account=account).pnl == Decimal("5")
    with time_machine.travel(datetime(2026, 3, 2, 5, 30, tzinfo=UTC), tick=False):
        assert account_day_pnl(account=account) is None


def _render(ctx: dict) -> str:
    from django.template.loader import render_to_string

    return render_to_string("streams/rows/position.html", {"row": ctx})
