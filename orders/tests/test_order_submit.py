"""Order entry: what order_submit writes, and every refusal leaving no rows behind."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditLog, OutboxMessage
from accounts.selectors import kill_switch_get
from accounts.services import account_halt, kill_switch_engage
from orders import exceptions as errors
from orders.models import Order, OrderStatus
from orders.services import fill_record, risk_limit_update
from orders.tests.factories import InstrumentFactory, OrderFactory, PositionFactory
from orders.tests.helpers import row_counts, submit
from strategies.tests.factories import TradingSessionFactory

pytestmark = pytest.mark.django_db

# "Today" is the desk's local date, read from the clock at each call: tests about it run at a
# pinned midday, so that no run straddles New York's midnight between writing and reading.
DESK_MIDDAY = "2026-11-18 12:00:00-05:00"


def test_a_trader_enters_a_limit_order_that_is_new_with_its_event_audit_row_and_command(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument)

    order.refresh_from_db()
    assert order.status == OrderStatus.NEW
    assert order.created_by == trader
    assert order.quantity == Decimal("10")
    event = order.events.get()
    assert (event.kind, event.from_status, event.to_status, event.actor) == ("submitted", "", "NEW", trader)
    audit = AuditLog.objects.get(action="order.submit")
    assert (audit.actor, audit.account, audit.object_id) == (trader, account, str(order.pk))
    assert audit.after["status"] == "NEW"
    command = OutboxMessage.objects.get()
    assert (command.stream, command.type) == ("commands", "order.place")
    assert command.data == {
        "client_order_id": str(order.client_order_id),
        "account": "DU0000001",
        "symbol": "AAPL",
        "sec_type": "STK",
        "exchange": "SMART",
        "currency": "USD",
        "side": "BUY",
        "quantity": "10",
        "order_type": "LMT",
        "limit_price": "100",
        "tif": "DAY",
        "outside_rth": False,
        "oca_group": "",
        "source": "admin",
        "strategy": "",
        "min_quantity": "1",
        "quantity_increment": "1",
    }


def test_the_command_carries_not_before_as_nanoseconds_and_the_strategy_and_parent(account, instrument):
    session = TradingSessionFactory(account=account, status="running", strategy__name="mean-revert")
    parent = submit(actor=None, account=account, instrument=instrument, source="strategy")
    at = timezone.now().replace(microsecond=123456) + timedelta(minutes=5)
    child = submit(
        actor=None,
        account=account,
        instrument=instrument,
        source="strategy",
        side="SELL",
        order_type="STP",
        limit_price=None,
        stop_price=Decimal("99.50"),
        parent=parent,
        not_before=at,
        trading_session=session,
        oca_group="bracket-1",
    )
    data = OutboxMessage.objects.get(data__client_order_id=str(child.client_order_id)).data
    assert data["not_before"] == int(at.timestamp()) * 10**9 + 123456000
    assert data["strategy"] == "mean-revert"
    assert data["parent_client_order_id"] == str(parent.client_order_id)
    assert data["stop_price"] == "99.5"
    assert "limit_price" not in data
    assert data["oca_group"] == "bracket-1"


def test_a_double_posted_client_order_id_creates_one_order(trader, account, instrument):
    client_order_id = uuid.uuid4()
    first = submit(actor=trader, account=account, instrument=instrument, client_order_id=client_order_id)
    second = submit(actor=trader, account=account, instrument=instrument, client_order_id=str(client_order_id))
    assert first.pk == second.pk
    assert row_counts() | {"fills": 0} == {
        "orders": 1,
        "events": 1,
        "audit": 1,
        "outbox": 1,
        "fills": 0,
        "positions": 0,
        "lots": 0,
    }


def test_a_client_order_id_of_another_accounts_order_is_a_conflict(account, other_account, instrument):
    client_order_id = uuid.uuid4()
    submit(actor=None, account=other_account, instrument=instrument, client_order_id=client_order_id)
    with pytest.raises(errors.OrderClientIdConflict):
        submit(actor=None, account=account, instrument=instrument, client_order_id=client_order_id)


def test_account_and_instrument_may_be_given_as_code_and_symbol(trader, account, instrument):
    order = submit(actor=trader, account="DU0000001", instrument="aapl")
    assert (order.account, order.instrument) == (account, instrument)


def test_a_market_order_is_measured_at_the_last_price(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument, order_type="MKT", limit_price=None)
    assert order.order_type == "MKT"


REFUSALS = [
    ({"quantity": 0}, errors.OrderQuantityNotPositive, "order.quantity_not_positive"),
    ({"quantity": "-5"}, errors.OrderQuantityNotPositive, "order.quantity_not_positive"),
    ({"quantity": "1.00001"}, errors.OrderInvalid, "order.invalid"),
    ({"quantity": "ten"}, errors.OrderInvalid, "order.invalid"),
    ({"limit_price": Decimal("100.005")}, errors.OrderPriceOffTick, "order.price_off_tick"),
    ({"limit_price": Decimal("-1.00")}, errors.OrderPriceNotPositive, "order.price_not_positive"),
    ({"limit_price": Decimal("1e12")}, errors.OrderInvalid, "order.invalid"),
    ({"limit_price": "NaN"}, errors.OrderInvalid, "order.invalid"),
    ({"limit_price": None}, errors.OrderLimitPriceRequired, "order.limit_price_required"),
    ({"order_type": "STP", "limit_price": None}, errors.OrderStopPriceRequired, "order.stop_price_required"),
    ({"order_type": "STP LMT", "stop_price": None}, errors.OrderStopPriceRequired, "order.stop_price_required"),
    ({"order_type": "MKT"}, errors.OrderPriceNotAllowed, "order.price_not_allowed"),
    ({"stop_price": Decimal("99.00")}, errors.OrderPriceNotAllowed, "order.price_not_allowed"),
    ({"side": "HOLD"}, errors.OrderInvalid, "order.invalid"),
    ({"order_type": "TRAIL"}, errors.OrderInvalid, "order.invalid"),
    ({"tif": "FOK"}, errors.OrderInvalid, "order.invalid"),
    ({"source": "email"}, errors.OrderInvalid, "order.invalid"),
    ({"instrument": "NOPE"}, errors.InstrumentUnknown, "instrument.unknown"),
    ({"client_order_id": "not-a-uuid"}, errors.OrderInvalid, "order.invalid"),
    ({"not_before": timezone.now().replace(tzinfo=None)}, errors.OrderInvalid, "order.invalid"),
    ({"quantity": 1001}, errors.RiskMaxQuantity, "risk.max_quantity"),
    ({"quantity": 1000, "limit_price": Decimal("100.01")}, errors.RiskMaxNotional, "risk.max_notional"),
    ({"limit_price": Decimal("105.01")}, errors.RiskPriceCollar, "risk.price_collar"),
    ({"limit_price": Decimal("94.99")}, errors.RiskPriceCollar, "risk.price_collar"),
]


@pytest.mark.parametrize(("overrides", "error", "code"), REFUSALS, ids=[r[2] + str(i) for i, r in enumerate(REFUSALS)])
def test_bad_input_or_a_breached_limit_is_refused_with_its_code_and_leaves_no_rows(
    trader, account, instrument, overrides, error, code
):
    before = row_counts()
    fields = {"instrument": instrument, **overrides}
    with pytest.raises(error) as refused:
        submit(actor=trader, account=account, **fields)
    assert refused.value.code == code
    assert row_counts() == before


def test_the_price_collar_admits_a_price_exactly_at_its_edge(trader, account, instrument):
    assert submit(actor=trader, account=account, instrument=instrument, limit_price=Decimal("105.00"))


def test_a_market_order_without_any_reference_price_is_refused(trader, account):
    unpriced = InstrumentFactory(symbol="NEWCO", last_price=None, last_price_at=None)
    with pytest.raises(errors.RiskNoReferencePrice):
        submit(actor=trader, account=account, instrument=unpriced, order_type="MKT", limit_price=None)
    assert Order.objects.count() == 0


def test_a_limit_order_on_an_unpriced_instrument_is_measured_at_its_limit(trader, account):
    unpriced = InstrumentFactory(symbol="NEWCO", last_price=None, last_price_at=None)
    assert submit(actor=trader, account=account, instrument=unpriced, limit_price=Decimal("5000.00"))


def test_an_inactive_instrument_is_refused(trader, account):
    delisted = InstrumentFactory(symbol="GONE", active=False)
    with pytest.raises(errors.InstrumentInactive):
        submit(actor=trader, account=account, instrument=delisted)
    assert row_counts()["orders"] == 0


def test_an_instrument_outside_the_accounts_allowed_list_is_refused(trader, risk_manager, account, instrument):
    msft = InstrumentFactory(symbol="MSFT")
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", allowed_instruments=[msft])
    before = row_counts()
    with pytest.raises(errors.InstrumentNotAllowed) as refused:
        submit(actor=trader, account=account, instrument=instrument)
    assert refused.value.code == "instrument.not_allowed"
    assert row_counts() == before
    assert submit(actor=trader, account=account, instrument=msft)


def test_a_non_member_is_refused(account, instrument, other_account):
    from accounts.models import Role
    from accounts.tests.factories import UserFactory

    outsider = UserFactory(username="outsider", roles=[Role.TRADER], accounts=[other_account])
    with pytest.raises(errors.AccountNotMember) as refused:
        submit(actor=outsider, account=account, instrument=instrument)
    assert refused.value.http_status == 403
    assert row_counts()["orders"] == 0


def test_a_viewer_who_is_a_member_may_not_enter_orders(viewer, account, instrument):
    with pytest.raises(errors.PermissionRequired):
        submit(actor=viewer, account=account, instrument=instrument)
    assert row_counts()["orders"] == 0


def test_a_superuser_may_trade_any_account_and_the_desk_itself_needs_no_membership(admin_user, account, instrument):
    assert submit(actor=admin_user, account=account, instrument=instrument).created_by == admin_user
    assert submit(actor=None, account=account, instrument=instrument, source="scheduler").created_by is None


def test_a_halted_account_refuses_new_orders(trader, risk_manager, account, instrument):
    account_halt(account=account, actor=risk_manager, reason="Broker outage", via="test")
    before = row_counts()
    with pytest.raises(errors.AccountHalted) as refused:
        submit(actor=trader, account=account, instrument=instrument)
    assert "Broker outage" in refused.value.message
    assert refused.value.http_status == 409
    assert row_counts() == before


def test_the_kill_switch_refuses_new_orders_on_every_account(trader, risk_manager, account, instrument):
    kill_switch_engage(actor=risk_manager, reason="Runaway strategy", via="test")
    before = row_counts()
    with pytest.raises(errors.DeskHalted) as refused:
        submit(actor=trader, account=account, instrument=instrument)
    assert refused.value.code == "desk.halted"
    assert row_counts() == before


def test_the_position_limit_counts_the_book_and_working_orders_on_the_same_side(
    trader, risk_manager, account, instrument
):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", max_position=100)
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("60"))
    submit(actor=trader, account=account, instrument=instrument, quantity=30)
    before = row_counts()
    with pytest.raises(errors.RiskMaxPosition) as refused:
        submit(actor=trader, account=account, instrument=instrument, quantity=11)
    assert refused.value.extra == {"limit": "100.0000", "value": "101.0000"}
    assert row_counts() == before
    assert submit(actor=trader, account=account, instrument=instrument, quantity=10)
    # Selling reduces the long position: far from the short limit.
    assert submit(actor=trader, account=account, instrument=instrument, side="SELL", quantity=150)


def test_the_position_limit_ignores_final_orders(trader, risk_manager, account, instrument):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", max_position=100)
    OrderFactory(account=account, instrument=instrument, quantity=100, status=OrderStatus.CANCELLED)
    OrderFactory(account=account, instrument=instrument, quantity=100, status=OrderStatus.REJECTED)
    assert submit(actor=trader, account=account, instrument=instrument, quantity=100)


def test_the_order_rate_limit_counts_orders_of_the_last_minute(trader, risk_manager, account, instrument):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", orders_per_minute=2)
    old = OrderFactory(account=account, instrument=instrument)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(seconds=61))
    # Three quantities: the same order again would be a possible duplicate (orders.services.duplicates).
    submit(actor=trader, account=account, instrument=instrument, quantity=10)
    submit(actor=trader, account=account, instrument=instrument, quantity=11)
    before = row_counts()
    with pytest.raises(errors.RiskRate) as refused:
        submit(actor=trader, account=account, instrument=instrument, quantity=12)
    assert refused.value.http_status == 429
    assert row_counts() == before


@time_machine.travel(DESK_MIDDAY, tick=True)
def test_the_daily_loss_limit_stops_new_risk_but_lets_the_desk_flatten(trader, risk_manager, account, instrument):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", max_daily_loss=500)
    now = timezone.now()
    fill_record(
        exec_id="e1",
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=200,
        price=Decimal("100"),
        executed_at=now,
    )
    fill_record(
        exec_id="e2",
        account=account,
        instrument=instrument,
        side="SELL",
        quantity=100,
        price=Decimal("95"),
        executed_at=now,
    )
    before = row_counts()
    with pytest.raises(errors.RiskDailyLoss) as refused:
        submit(actor=trader, account=account, instrument=instrument, quantity=1)
    assert refused.value.code == "risk.daily_loss"
    assert row_counts() == before
    flatten = submit(
        actor=trader, account=account, instrument=instrument, side="SELL", quantity=100, limit_price=Decimal("96.00")
    )
    assert flatten.status == OrderStatus.NEW


@time_machine.travel(DESK_MIDDAY, tick=True)
def test_yesterdays_losses_do_not_count_toward_the_daily_loss(trader, risk_manager, account, instrument):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", max_daily_loss=500)
    yesterday = timezone.now() - timedelta(days=2)
    fill_record(
        exec_id="e1",
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=200,
        price=Decimal("100"),
        executed_at=yesterday,
    )
    fill_record(
        exec_id="e2",
        account=account,
        instrument=instrument,
        side="SELL",
        quantity=200,
        price=Decimal("90"),
        executed_at=yesterday,
    )
    assert submit(actor=trader, account=account, instrument=instrument)


def test_a_strategy_order_needs_a_running_session_on_the_same_account(account, other_account, instrument):
    paused = TradingSessionFactory(account=account, status="paused")
    with pytest.raises(errors.OrderSessionNotRunning):
        submit(actor=None, account=account, instrument=instrument, source="strategy", trading_session=paused)
    elsewhere = TradingSessionFactory(account=other_account, status="running")
    with pytest.raises(errors.OrderInvalid):
        submit(actor=None, account=account, instrument=instrument, source="strategy", trading_session=elsewhere)
    assert row_counts()["orders"] == 0


def test_the_order_closing_a_session_as_it_stops_goes_even_from_a_paused_session(account, instrument):
    paused = TradingSessionFactory(account=account, status="paused")
    order = submit(
        actor=None,
        account=account,
        instrument=instrument,
        source="strategy",
        trading_session=paused,
        closes_session=True,
    )
    assert (order.trading_session, order.status) == (paused, OrderStatus.NEW)


def test_a_parent_must_be_an_open_order_of_the_same_account_and_instrument(account, other_account, instrument):
    foreign = submit(actor=None, account=other_account, instrument=instrument)
    with pytest.raises(errors.OrderParentInvalid):
        submit(actor=None, account=account, instrument=instrument, parent=foreign)


def test_inside_a_transaction_entry_sets_no_savepoint_and_a_refusal_leaves_the_transaction_usable(
    trader, account, instrument
):
    kill_switch_get()  # a new database creates the switch's row on first use (in a savepoint)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        order = submit(actor=trader, account=account, instrument=instrument)
        with pytest.raises(errors.RiskMaxQuantity):
            submit(actor=trader, account=account, instrument=instrument, quantity="1000000")
        assert not transaction.get_connection().needs_rollback
        assert Order.objects.filter(pk=order.pk).exists()

    assert not [query["sql"] for query in queries if "SAVEPOINT" in query["sql"]]
    assert list(Order.objects.values_list("pk", flat=True)) == [order.pk]
