"""Flatten: a position, an account, the desk, and the kill switch's "cancel and flatten" (orders.services.flatten)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from accounts.models import AuditLog, OutboxMessage
from accounts.selectors import kill_switch_get
from accounts.services import account_halt, kill_switch_engage
from orders import exceptions as errors
from orders.models import Order, OrderStatus
from orders.services.flatten import (
    account_flatten,
    desk_flatten,
    flatten_client_order_id,
    kill_switch_cancel_and_flatten,
    position_flatten,
)
from orders.tests.factories import InstrumentFactory, OrderFactory, PositionFactory
from orders.tests.helpers import row_counts, submit

pytestmark = pytest.mark.django_db


def _placed() -> list[dict]:
    return [m.data for m in OutboxMessage.objects.filter(type="order.place").order_by("id")]


def test_a_long_position_is_flattened_by_a_market_sell_of_its_size_audited_with_the_reason(trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))

    outcome = position_flatten(position=position, actor=trader, reason="end of day", via="test")

    (order,) = outcome.orders
    assert (order.side, order.quantity, order.order_type, order.status) == ("SELL", Decimal("30"), "MKT", "NEW")
    assert "past_kill_switch" not in _placed()[0]
    assert order.client_order_id == flatten_client_order_id(position, outcome.flatten_id)
    assert [d["client_order_id"] for d in _placed()] == [str(order.client_order_id)]
    audit = AuditLog.objects.get(action="position.flatten")
    assert (audit.actor, audit.account, audit.object_id) == (trader, account, str(position.pk))
    assert audit.after["reason"] == "end of day"
    assert audit.after["orders"] == [str(order.client_order_id)]


def test_a_short_position_is_flattened_by_a_limit_buy_at_the_quote(trader, account):
    instrument = InstrumentFactory(symbol="MSFT", last_price=Decimal("250.137"), min_tick=Decimal("0.01"))
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("-12"))

    (order,) = position_flatten(position=position, actor=trader, reason="risk", order_type="LMT", via="test").orders

    # No live quote in this Redis: the last price, rounded up on the tick to stay marketable for a buy.
    assert (order.side, order.quantity, order.order_type, order.limit_price) == (
        "BUY",
        Decimal("12"),
        "LMT",
        Decimal("250.14"),
    )


def test_the_same_flatten_posted_twice_sends_one_order(trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    flatten_id = uuid.uuid4()

    first = position_flatten(position=position, actor=trader, reason="x", flatten_id=flatten_id, via="test")
    again = position_flatten(position=position, actor=trader, reason="x", flatten_id=flatten_id, via="test")

    assert [o.pk for o in again.orders] == [o.pk for o in first.orders]
    assert Order.objects.count() == 1
    assert len(_placed()) == 1
    assert AuditLog.objects.filter(action="position.flatten").count() == 1
    # A new flatten (another id) is another order.
    position_flatten(position=position, actor=trader, reason="x", via="test")
    assert Order.objects.count() == 2


def test_a_flat_position_is_refused_and_nothing_is_written(trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("0"))
    before = row_counts()

    with pytest.raises(errors.PositionFlat) as refused:
        position_flatten(position=position, actor=trader, reason="x", via="test")

    assert refused.value.code == "position.flat"
    assert row_counts() == before


@pytest.mark.parametrize(
    ("reason", "order_type", "field"),
    [("", "MKT", "reason"), ("why", "STP", "order_type")],
)
def test_a_flatten_needs_a_reason_and_a_market_or_limit_type(trader, account, instrument, reason, order_type, field):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("5"))

    with pytest.raises(errors.OrderInvalid) as refused:
        position_flatten(position=position, actor=trader, reason=reason, order_type=order_type, via="test")

    assert refused.value.field == field
    assert not Order.objects.exists()


def test_flatten_cancels_the_working_orders_of_the_instrument_first(trader, account, instrument):
    other = InstrumentFactory(symbol="IBM")
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    working = submit(actor=trader, account=account, instrument=instrument, side="SELL", quantity=Decimal("30"))
    elsewhere = submit(actor=trader, account=account, instrument=other)

    outcome = position_flatten(position=position, actor=trader, reason="x", via="test")

    assert [o.pk for o in outcome.cancelled] == [working.pk]
    working.refresh_from_db()
    elsewhere.refresh_from_db()
    assert working.status == OrderStatus.CANCELLED
    assert elsewhere.status == OrderStatus.NEW


@pytest.mark.parametrize(
    ("position", "side", "quantity"),
    [("30", "BUY", "5"), ("30", "SELL", "31"), ("-10", "SELL", "1"), ("0", "SELL", "1")],
)
def test_a_reduce_only_order_that_would_open_or_grow_the_position_is_refused(
    trader, account, instrument, position, side, quantity
):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal(position))
    before = row_counts()

    with pytest.raises(errors.OrderNotReducing) as refused:
        submit(
            actor=trader,
            account=account,
            instrument=instrument,
            side=side,
            quantity=Decimal(quantity),
            reduce_only=True,
        )

    assert refused.value.code == "order.not_reducing"
    assert row_counts() == before


def test_a_reduce_only_order_closing_part_or_all_of_the_position_passes(trader, account, instrument):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("-10"))

    order = submit(
        actor=trader, account=account, instrument=instrument, side="BUY", quantity=Decimal("10"), reduce_only=True
    )

    assert order.status == OrderStatus.NEW


def test_past_the_kill_switch_is_refused_without_reduce_only(trader, account, instrument):
    with pytest.raises(errors.OrderInvalid) as refused:
        submit(actor=trader, account=account, instrument=instrument, past_kill_switch=True)
    assert refused.value.field == "past_kill_switch"


def test_a_plain_flatten_is_refused_while_the_kill_switch_is_engaged(trader, admin_user, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    kill_switch_engage(actor=admin_user, reason="stop", via="test")

    with pytest.raises(errors.DeskHalted):
        position_flatten(position=position, actor=trader, reason="x", via="test")
    # An account's flatten lists each position's refusal and enters nothing.
    outcome = account_flatten(account=account, actor=trader, reason="x", via="test")
    assert [r["code"] for r in outcome.refused] == ["desk.halted"]
    assert not Order.objects.exists()


def test_an_account_flatten_closes_each_open_position_and_lists_the_refused(trader, account, other_account):
    aapl, msft, ibm = (InstrumentFactory(symbol=s) for s in ("AAPL", "MSFT", "IBM"))
    PositionFactory(account=account, instrument=aapl, quantity=Decimal("30"))
    PositionFactory(account=account, instrument=msft, quantity=Decimal("-4"))
    PositionFactory(account=account, instrument=ibm, quantity=Decimal("0"))
    PositionFactory(account=other_account, instrument=aapl, quantity=Decimal("7"))
    # No price to value a market order: that position is refused, the others go.
    tsla = InstrumentFactory(symbol="TSLA", last_price=None)
    PositionFactory(account=account, instrument=tsla, quantity=Decimal("2"))

    outcome = account_flatten(account=account, actor=trader, reason="close the book", via="test")

    assert sorted((o.instrument.symbol, o.side, o.quantity) for o in outcome.orders) == [
        ("AAPL", "SELL", Decimal("30")),
        ("MSFT", "BUY", Decimal("4")),
    ]
    assert [(r["symbol"], r["code"]) for r in outcome.refused] == [("TSLA", "risk.no_reference_price")]
    audit = AuditLog.objects.get(action="account.flatten")
    assert audit.after["reason"] == "close the book"
    assert len(audit.after["orders"]) == 2


def test_an_account_with_no_open_position_is_refused(trader, account):
    with pytest.raises(errors.PositionFlat):
        account_flatten(account=account, actor=trader, reason="x", via="test")


def test_a_halted_accounts_positions_are_refused_in_a_desk_flatten(admin_user, account, other_account, instrument):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    PositionFactory(account=other_account, instrument=instrument, quantity=Decimal("-5"))
    account_halt(account=other_account, actor=admin_user, reason="broken", via="test")

    outcome = desk_flatten(actor=admin_user, reason="desk closes", via="test")

    assert [(o.account.code, o.side, o.quantity) for o in outcome.orders] == [("DU0000001", "SELL", Decimal("30"))]
    assert [r["code"] for r in outcome.refused] == ["account.halted"]
    assert AuditLog.objects.filter(action="desk.flatten").count() == 1


def test_a_trader_may_not_flatten_the_desk(trader, account, instrument):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))

    with pytest.raises(errors.PermissionRequired):
        desk_flatten(actor=trader, reason="x", via="test")
    assert not Order.objects.exists()


def test_cancel_and_flatten_engages_the_kill_switch_and_closes_every_position_past_it(
    admin_user, account, other_account, instrument
):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    PositionFactory(account=other_account, instrument=instrument, quantity=Decimal("-5"))
    OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)

    outcome = kill_switch_cancel_and_flatten(actor=admin_user, reason="market crash", via="test")

    assert kill_switch_get().engaged
    assert sorted((o.account.code, o.side, o.quantity) for o in outcome.orders) == [
        ("DU0000001", "SELL", Decimal("30")),
        (other_account.code, "BUY", Decimal("5")),
    ]
    # The engage's halt (cancelling every working order) goes before the closing orders.
    types = list(OutboxMessage.objects.order_by("id").values_list("type", flat=True))
    assert types[0] == "trading.halt"
    assert types.count("order.place") == 2
    # The worker's halt checks let these by (the desk-wide halt only; execution_worker tests).
    assert [d.get("past_kill_switch") for d in _placed()] == [True, True]
    audit = AuditLog.objects.get(action="desk.flatten")
    assert audit.after["past_kill_switch"] is True
    # Past the engaged switch goes only the flatten: any other order is still refused.
    with pytest.raises(errors.DeskHalted):
        submit(actor=admin_user, account=account, instrument=instrument, side="SELL", quantity=Decimal("1"))
