"""Bracket entry (orders.services.brackets) and OCA types: three rows, one order.place the worker decodes."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import OutboxMessage
from execution_worker import messages as m
from orders import exceptions as errors
from orders.models import Order, OrderStatus
from orders.services import bracket_submit, order_cancel
from orders.tests.helpers import order_body, row_counts, submit

pytestmark = pytest.mark.django_db


def enter(actor, account, instrument, **overrides):
    fields = {
        "side": "BUY",
        "quantity": Decimal("10"),
        "order_type": "LMT",
        "limit_price": Decimal("100.00"),
        "take_profit_price": Decimal("101.00"),
        "stop_loss_price": Decimal("99.00"),
        "source": "admin",
        "via": "test",
    }
    fields.update(overrides)
    return bracket_submit(actor=actor, account=account, instrument=instrument, **fields)


def _command(data: dict) -> m.OrderPlace:
    import json

    return m.decode({"v": "1", "type": "order.place", "id": str(uuid.uuid4()), "ts": "1", "data": json.dumps(data)})


def test_a_bracket_is_three_orders_and_one_command_the_worker_reads_as_a_chain(trader, account, instrument):
    bracket = enter(trader, account, instrument)

    assert [o.status for o in (bracket.entry, bracket.take_profit, bracket.stop_loss)] == ["NEW"] * 3
    assert bracket.take_profit.parent == bracket.entry and bracket.stop_loss.parent == bracket.entry
    assert (bracket.take_profit.side, bracket.take_profit.order_type, bracket.take_profit.limit_price) == (
        "SELL",
        "LMT",
        Decimal("101.00"),
    )
    assert (bracket.stop_loss.side, bracket.stop_loss.order_type, bracket.stop_loss.stop_price) == (
        "SELL",
        "STP",
        Decimal("99.00"),
    )
    command = OutboxMessage.objects.get()
    place = _command(command.data)
    assert place.client_order_id == str(bracket.entry.client_order_id)
    assert [c["client_order_id"] for c in place.children] == [
        str(bracket.take_profit.client_order_id),
        str(bracket.stop_loss.client_order_id),
    ]
    assert place.children[1]["stop_price"] == Decimal("99.00")
    assert {e.order_id for e in Order.objects.get(pk=bracket.stop_loss.pk).events.all()} == {bracket.stop_loss.pk}


def test_the_same_client_order_id_returns_the_bracket_already_entered(trader, account, instrument):
    coid = uuid.uuid4()
    first = enter(trader, account, instrument, client_order_id=coid)
    again = enter(trader, account, instrument, client_order_id=coid)
    assert again == first
    assert OutboxMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("side", "take", "stop"),
    [("BUY", "99.00", "101.00"), ("BUY", "100.50", "100.20"), ("SELL", "101.00", "99.00")],
)
def test_prices_on_the_wrong_side_are_refused_and_nothing_is_written(trader, account, instrument, side, take, stop):
    before = row_counts()
    with pytest.raises(errors.OrderBracketInvalid):
        enter(trader, account, instrument, side=side, take_profit_price=Decimal(take), stop_loss_price=Decimal(stop))
    assert row_counts() == before


def test_a_child_a_risk_limit_refuses_refuses_the_whole_bracket(trader, account, instrument):
    before = row_counts()
    # The default collar allows prices a few percent around the last price (100.00): not 50.
    with pytest.raises(errors.ApplicationError):
        enter(trader, account, instrument, stop_loss_price=Decimal("50.00"))
    assert row_counts() == before


def test_cancelling_an_unsent_entry_withdraws_its_children_and_a_child_alone_cannot_be(trader, account, instrument):
    bracket = enter(trader, account, instrument)
    with pytest.raises(errors.OrderNotCancellable):
        order_cancel(order=bracket.stop_loss, actor=trader, via="test")
    order_cancel(order=bracket.entry, actor=trader, via="test")
    for order in (bracket.entry, bracket.take_profit, bracket.stop_loss):
        order.refresh_from_db()
        assert order.status == OrderStatus.CANCELLED
    assert not OutboxMessage.objects.filter(type="order.place").exists()


def test_an_oca_type_travels_with_its_group_and_needs_one(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument, oca_group="hedge-1", oca_type=1)
    place = _command(OutboxMessage.objects.get(data__client_order_id=str(order.client_order_id)).data)
    assert (place.oca_group, place.oca_type) == ("hedge-1", 1)
    for bad in ({"oca_type": 1}, {"oca_group": "g", "oca_type": 4}):
        with pytest.raises(errors.OrderInvalid):
            submit(actor=trader, account=account, instrument=instrument, quantity=Decimal("3"), **bad)


def test_the_api_enters_a_bracket(api_client, trader, account, instrument):
    api_client.force_authenticate(trader)
    body = order_body(take_profit_price="101.00", stop_loss_price="99.00")
    response = api_client.post(reverse("api-v1:bracket-list"), body, format="json", HTTP_IDEMPOTENCY_KEY="b1")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["entry"]["status"] == "NEW"
    assert data["take_profit"]["parent"] == data["entry"]["client_order_id"]
    assert Decimal(data["stop_loss"]["stop_price"]) == Decimal("99.00")
    refused = api_client.post(
        reverse("api-v1:bracket-list"), {**body, "stop_loss_price": "102.00"}, format="json", HTTP_IDEMPOTENCY_KEY="b2"
    )
    assert (refused.status_code, refused.json()["code"]) == (400, "order.bracket_invalid")


def test_the_monitors_protective_pair_is_one_broker_side_oca_group_that_reduces_with_block(account, instrument):
    from orders import monitoring
    from orders.tests.helpers import buy, report_broker, set_policy

    set_policy(account, stop_loss_pct=Decimal("2"), take_profit_pct=Decimal("3"))
    buy(account, instrument, 100, "100")
    report_broker(account, instrument, 100)
    monitoring.monitoring_run()

    places = [_command(row.data) for row in OutboxMessage.objects.filter(type="order.place")]
    assert len(places) == 2
    assert places[0].oca_group == places[1].oca_group and places[0].oca_group.startswith("protect:")
    assert {p.oca_type for p in places} == {2}


def test_the_admin_enters_a_bracket_with_its_form(client, trader, account, instrument):
    client.force_login(trader)
    url = reverse("admin:orders_order_add_bracket")
    page = client.get(url)
    assert page.status_code == 200 and b"take_profit_price" in page.content
    coid = str(uuid.uuid4())
    body = {
        "client_order_id": coid,
        "account": account.pk,
        "instrument": instrument.pk,
        "side": "BUY",
        "quantity": "10",
        "order_type": "LMT",
        "limit_price": "100.00",
        "take_profit_price": "101.00",
        "stop_loss_price": "99.00",
        "tif": "DAY",
    }
    response = client.post(url, body)
    assert response.status_code == 302, response.content.decode()[:2000]
    entry = Order.objects.get(client_order_id=coid)
    assert sorted(c.order_type for c in entry.children.all()) == ["LMT", "STP"]
    refused = client.post(
        url, {**body, "client_order_id": str(uuid.uuid4()), "quantity": "7", "stop_loss_price": "100.50"}
    )
    assert refused.status_code == 200 and b"order.bracket_invalid" in refused.content
