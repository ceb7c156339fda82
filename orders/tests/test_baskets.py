"""Baskets: all-or-nothing entry (cumulative risk), the preview, a re-sent basket, cancel (orders.services.baskets)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from accounts.models import AuditLog, OutboxMessage
from accounts.services import account_halt
from orders.exceptions import AccountNotMember, PermissionRequired
from orders.exceptions_baskets import (
    BasketClientIdConflict,
    BasketInvalid,
    BasketLineRefused,
    BasketNotCancellable,
)
from orders.models import Basket, Order, OrderStatus, RiskLimit
from orders.services import basket_cancel, basket_check, basket_submit
from orders.services.baskets import MAX_LINES
from orders.tests.factories import InstrumentFactory
from orders.tests.helpers import row_counts, run_together

pytestmark = pytest.mark.django_db


def line(**changes) -> dict:
    """A limit buy of 10 AAPL at 100.00, with ``changes``."""
    return {"symbol": "AAPL", "side": "BUY", "quantity": "10", "order_type": "LMT", "limit_price": "100.00", **changes}


@pytest.fixture
def msft(db):
    return InstrumentFactory(symbol="MSFT", last_price=Decimal("300.00"))


def test_a_basket_enters_every_line_as_an_order_of_the_basket_with_one_audit_row(trader, account, instrument, msft):
    basket = basket_submit(
        actor=trader,
        account=account,
        lines=[line(), line(symbol="MSFT", side="SELL", quantity="5", limit_price="301.00")],
        name="open",
        via="test",
    )

    orders = list(basket.orders.order_by("id"))
    assert [(o.instrument.symbol, o.side, o.quantity, o.status) for o in orders] == [
        ("AAPL", "BUY", Decimal("10"), OrderStatus.NEW),
        ("MSFT", "SELL", Decimal("5"), OrderStatus.NEW),
    ]
    assert (basket.account, basket.created_by, basket.status, basket.name) == (account, trader, "sent", "open")
    assert OutboxMessage.objects.filter(type="order.place").count() == 2
    assert AuditLog.objects.filter(action="order.submit").count() == 2
    audit = AuditLog.objects.get(action="basket.submit")
    assert audit.object_id == str(basket.pk)
    assert audit.after["orders"] == [str(o.client_order_id) for o in orders]
    assert audit.after["notional"] == "2505.00"


def test_one_refused_line_enters_nothing_and_every_refused_line_is_named(trader, account, instrument):
    before = row_counts()

    with pytest.raises(BasketLineRefused) as refused:
        basket_submit(
            actor=trader,
            account=account,
            lines=[line(), line(quantity="0"), line(symbol="NOPE"), line(limit_price="100.005")],
            via="test",
        )

    assert refused.value.code == "basket.line_refused"
    assert [(r["line"], r["code"]) for r in refused.value.extra["lines"]] == [
        (2, "order.quantity_not_positive"),
        (3, "instrument.unknown"),
        (4, "order.price_off_tick"),
    ]
    assert row_counts() == before
    assert Basket.objects.count() == 0


def test_two_lines_that_each_fit_the_position_limit_but_not_together_are_refused(trader, account, instrument):
    RiskLimit.objects.filter(account=account).update(max_position=Decimal("15"))

    with pytest.raises(BasketLineRefused) as refused:
        basket_submit(actor=trader, account=account, lines=[line(), line(limit_price="99.99")], via="test")

    assert [(r["line"], r["code"]) for r in refused.value.extra["lines"]] == [(2, "risk.max_position")]
    assert Order.objects.count() == 0


def test_the_rate_limit_counts_the_lines_before(trader, account, instrument):
    RiskLimit.objects.filter(account=account).update(orders_per_minute=2)

    with pytest.raises(BasketLineRefused) as refused:
        basket_submit(
            actor=trader,
            account=account,
            lines=[line(limit_price=f"99.{n}0") for n in range(3)],
            via="test",
        )

    assert [(r["line"], r["code"]) for r in refused.value.extra["lines"]] == [(3, "risk.rate")]


def test_two_identical_lines_are_a_possible_duplicate_until_confirmed(trader, account, instrument):
    with pytest.raises(BasketLineRefused) as refused:
        basket_submit(actor=trader, account=account, lines=[line(), line()], via="test")
    assert [r["code"] for r in refused.value.extra["lines"]] == ["order.possible_duplicate"]

    basket = basket_submit(actor=trader, account=account, lines=[line(), line()], confirm_duplicate=True, via="test")

    assert basket.orders.count() == 2


def test_a_halted_account_refuses_every_line(trader, risk_manager, account, instrument):
    account_halt(account=account, actor=risk_manager, reason="news", via="test")

    with pytest.raises(BasketLineRefused) as refused:
        basket_submit(actor=trader, account=account, lines=[line(), line(limit_price="99")], via="test")

    assert [r["code"] for r in refused.value.extra["lines"]] == ["account.halted", "account.halted"]


def test_a_viewer_and_a_stranger_may_not_send_a_basket(viewer, user, account, instrument):
    with pytest.raises(PermissionRequired):
        basket_submit(actor=viewer, account=account, lines=[line()], via="test")
    with pytest.raises(AccountNotMember):
        basket_submit(actor=user, account=account, lines=[line()], via="test")
    assert Order.objects.count() == 0


def test_a_basket_needs_lines_and_at_most_the_maximum(trader, account, instrument):
    with pytest.raises(BasketInvalid):
        basket_submit(actor=trader, account=account, lines=[], via="test")
    with pytest.raises(BasketInvalid) as too_many:
        basket_submit(actor=trader, account=account, lines=[line()] * (MAX_LINES + 1), via="test")
    assert too_many.value.code == "basket.invalid"


def test_the_same_basket_sent_twice_is_entered_once(trader, account, instrument):
    client_basket_id = uuid.uuid4()

    first = basket_submit(actor=trader, account=account, lines=[line()], client_basket_id=client_basket_id, via="test")
    again = basket_submit(actor=trader, account=account, lines=[line()], client_basket_id=client_basket_id, via="test")

    assert again.pk == first.pk
    assert Order.objects.count() == 1
    assert AuditLog.objects.filter(action="basket.submit").count() == 1


def test_a_basket_id_of_another_account_is_a_conflict(trader, admin_user, account, other_account, instrument):
    client_basket_id = uuid.uuid4()
    basket_submit(actor=admin_user, account=other_account, lines=[line()], client_basket_id=client_basket_id, via="t")

    with pytest.raises(BasketClientIdConflict):
        basket_submit(actor=trader, account=account, lines=[line()], client_basket_id=client_basket_id, via="test")


def test_the_preview_answers_each_line_and_keeps_nothing(trader, account, instrument, msft):
    RiskLimit.objects.filter(account=account).update(max_position=Decimal("15"))
    before = row_counts()

    check = basket_check(
        actor=trader,
        account=account,
        lines=[line(), line(limit_price="99.99"), line(symbol="MSFT", quantity="2", limit_price="300")],
    )

    assert [(entry.number, entry.code) for entry in check.lines] == [
        (1, ""),
        (2, "risk.max_position"),
        (3, ""),
    ]
    assert [entry.notional for entry in check.lines] == [Decimal("1000.00"), None, Decimal("600.00")]
    assert check.notional == Decimal("1600.00")
    assert not check.ok
    assert row_counts() == before


def test_cancelling_a_basket_cancels_its_working_orders_and_leaves_the_filled(trader, account, instrument):
    basket = basket_submit(
        actor=trader, account=account, lines=[line(), line(limit_price="99"), line(limit_price="98")], via="test"
    )
    first, second, third = basket.orders.order_by("id")
    Order.objects.filter(pk=first.pk).update(status=OrderStatus.FILLED, filled_quantity=Decimal("10"))
    Order.objects.filter(pk=second.pk).update(status=OrderStatus.SUBMITTED)
    outside = Order.objects.create(
        account=account, instrument=instrument, side="BUY", quantity=Decimal("1"), status=OrderStatus.SUBMITTED
    )

    outcome = basket_cancel(actor=trader, basket=basket, reason="changed my mind", via="test")

    statuses = dict(Order.objects.values_list("pk", "status"))
    assert statuses[first.pk] == OrderStatus.FILLED
    assert statuses[second.pk] == OrderStatus.CANCEL_REQUESTED
    # Never sent (its order.place still waits in the outbox): cancelled at once.
    assert statuses[third.pk] == OrderStatus.CANCELLED
    assert statuses[outside.pk] == OrderStatus.SUBMITTED
    assert {o.pk for o in outcome.cancelled} == {second.pk, third.pk}
    basket.refresh_from_db()
    assert basket.status == Basket.Status.CANCELLED
    audit = AuditLog.objects.get(action="basket.cancel")
    assert (audit.after["reason"], len(audit.after["cancelled"])) == ("changed my mind", 2)


def test_a_basket_with_nothing_working_or_no_reason_is_not_cancelled(trader, viewer, account, instrument):
    basket = basket_submit(actor=trader, account=account, lines=[line()], via="test")

    with pytest.raises(BasketInvalid):
        basket_cancel(actor=trader, basket=basket, reason=" ", via="test")
    with pytest.raises(PermissionRequired):
        basket_cancel(actor=viewer, basket=basket, reason="no", via="test")
    basket.orders.update(status=OrderStatus.FILLED)
    with pytest.raises(BasketNotCancellable) as refused:
        basket_cancel(actor=trader, basket=basket, reason="too late", via="test")
    assert refused.value.code == "basket.not_cancellable"
    assert not AuditLog.objects.filter(action="basket.cancel").exists()


@pytest.mark.django_db(transaction=True)
def test_a_basket_sent_three_times_at_once_is_entered_once(trader, account, instrument):
    client_basket_id = uuid.uuid4()

    results, errors = run_together(
        3,
        lambda n: basket_submit(
            actor=trader,
            account=account,
            lines=[line(), line(quantity="5")],
            client_basket_id=client_basket_id,
            via="test",
        ),
    )

    assert errors == []
    assert {basket.pk for basket in results} == {Basket.objects.get().pk}
    assert (Order.objects.count(), OutboxMessage.objects.count()) == (2, 2)


@pytest.mark.django_db(transaction=True)
def test_two_baskets_at_once_cannot_both_fit_a_position_limit_only_one_fits(trader, account, instrument):
    RiskLimit.objects.filter(account=account).update(max_position=Decimal("15"))

    results, errors = run_together(
        2,
        lambda n: basket_submit(actor=trader, account=account, lines=[line(limit_price=f"99.9{n}")], via="test"),
    )

    assert len(results) == 1
    assert [[r["code"] for r in error.extra["lines"]] for error in errors] == [["risk.max_position"]]
    assert Order.objects.count() == 1
