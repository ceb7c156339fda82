"""Reads are scoped to the user's accounts, once, in the selectors."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from accounts.models import Role
from accounts.selectors import accounts_for_user, alert_list
from accounts.services import alert_raise
from accounts.tests.factories import UserFactory
from orders.exceptions import OrderNotFound
from orders.models import Order
from orders.selectors import fill_list, order_get, order_list, position_list, realized_pnl_today
from orders.services import fill_apply_commission, fill_record
from orders.tests.factories import InstrumentFactory, OrderFactory, PositionFactory
from strategies.tests.factories import TradingSessionFactory

pytestmark = pytest.mark.django_db

# "Today" is the desk's local date, read from the clock at each call: tests about it run at a
# pinned midday, so that no run straddles New York's midnight between writing and reading.
DESK_MIDDAY = "2026-11-18 12:00:00-05:00"


@pytest.fixture
def books(account, other_account, instrument):
    mine = OrderFactory(account=account, instrument=instrument, status="SUBMITTED")
    theirs = OrderFactory(account=other_account, instrument=instrument, status="SUBMITTED")
    return mine, theirs


def test_a_member_sees_only_their_accounts(trader, account):
    assert list(accounts_for_user(trader)) == [account]


def test_a_superuser_sees_every_account(admin_user, account, other_account):
    assert set(accounts_for_user(admin_user)) == {account, other_account}


def test_an_anonymous_or_inactive_user_sees_nothing(account):
    from django.contrib.auth.models import AnonymousUser

    assert not accounts_for_user(AnonymousUser()).exists()
    assert not accounts_for_user(None).exists()
    sleeper = UserFactory(username="gone", is_active=False, accounts=[account])
    assert not accounts_for_user(sleeper).exists()


def test_a_trader_of_account_a_cannot_see_account_bs_orders(trader, books):
    mine, theirs = books
    assert list(order_list(user=trader)) == [mine]
    with pytest.raises(OrderNotFound):
        order_get(user=trader, client_order_id=theirs.client_order_id)
    assert order_get(user=trader, pk=mine.pk) == mine


def test_a_malformed_order_id_is_not_found(trader):
    with pytest.raises(OrderNotFound):
        order_get(user=trader, client_order_id="not-a-uuid")


@time_machine.travel(DESK_MIDDAY, tick=True)
def test_order_filters_narrow_by_status_account_strategy_symbol_and_date(
    admin_user, account, other_account, instrument
):
    session = TradingSessionFactory(account=account, strategy__name="momentum")
    msft = InstrumentFactory(symbol="MSFT")
    a = OrderFactory(account=account, instrument=instrument, status="FILLED", trading_session=session)
    b = OrderFactory(account=other_account, instrument=msft, status="NEW")
    old = OrderFactory(account=account, instrument=instrument, status="NEW")
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=3))
    assert set(order_list(user=admin_user, filters={"status": "NEW"})) == {b, old}
    assert set(order_list(user=admin_user, filters={"status": ["NEW", "FILLED"], "account": "DU0000002"})) == {b}
    assert set(order_list(user=admin_user, filters={"strategy": "momentum"})) == {a}
    assert set(order_list(user=admin_user, filters={"strategy": session.strategy_id})) == {a}
    assert set(order_list(user=admin_user, filters={"symbol": "msft"})) == {b}
    assert set(order_list(user=admin_user, filters={"open": True})) == {b, old}
    today = timezone.localdate()
    assert set(order_list(user=admin_user, filters={"date_from": today})) == {a, b}
    assert set(order_list(user=admin_user, filters={"date_to": str(today - timedelta(days=1))})) == {old}


def test_positions_and_fills_are_scoped_and_flat_positions_hidden(trader, account, other_account, instrument):
    msft = InstrumentFactory(symbol="MSFT")
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("10"))
    PositionFactory(account=account, instrument=msft, quantity=Decimal("0"))
    PositionFactory(account=other_account, instrument=instrument, quantity=Decimal("5"))
    fill_record(
        exec_id="mine",
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=1,
        price=1,
        executed_at=timezone.now(),
    )
    fill_record(
        exec_id="theirs",
        account=other_account,
        instrument=instrument,
        side="BUY",
        quantity=1,
        price=1,
        executed_at=timezone.now(),
    )
    assert [p.instrument.symbol for p in position_list(user=trader)] == ["AAPL"]
    assert len(position_list(user=trader, include_flat=True)) == 2
    assert [f.exec_id for f in fill_list(user=trader)] == ["mine"]
    assert not fill_list(user=trader, account=other_account).exists()


def test_alerts_of_other_accounts_are_hidden_but_desk_wide_alerts_are_shown(trader, account, other_account):
    alert_raise(key="desk", kind="gateway", message="TWS down")
    alert_raise(key="mine", kind="position", message="Mine", account=account)
    alert_raise(key="theirs", kind="position", message="Theirs", account=other_account)
    assert {a.key for a in alert_list(user=trader)} == {"desk", "mine"}
    assert {a.key for a in alert_list(user=trader, status="resolved")} == set()


@time_machine.travel(DESK_MIDDAY, tick=True)
def test_realized_pnl_today_is_net_of_commissions(account, instrument):
    now = timezone.now()
    fill_record(exec_id="a", account=account, instrument=instrument, side="BUY", quantity=10, price=10, executed_at=now)
    fill_record(
        exec_id="b", account=account, instrument=instrument, side="SELL", quantity=10, price=12, executed_at=now
    )
    fill_apply_commission(exec_id="a", commission="1.00", currency="USD")
    fill_apply_commission(exec_id="b", commission="1.50", currency="USD")
    assert realized_pnl_today(account=account) == Decimal("17.5")


def test_a_member_in_no_role_still_sees_only_their_accounts(account, other_account):
    member = UserFactory(username="plain", roles=[Role.VIEWER], accounts=[other_account])
    assert list(accounts_for_user(member)) == [other_account]
