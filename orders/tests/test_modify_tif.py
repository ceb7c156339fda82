"""A working order's time in force is modified as its prices are: applied at once, the confirmed TIF kept
until the broker answers, restored if it refuses; IOC is neither a target nor a source."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditLog, OutboxMessage
from execution_worker import messages
from orders.exceptions import OrderInvalid, OrderModifyEmpty, OrderTifNotModifiable
from orders.models import OrderStatus
from orders.services import order_apply_broker_status, order_mark_command_rejected, order_modify
from orders.tests import helpers
from orders.tests.factories import OrderFactory
from orders.tests.helpers import row_counts, submit

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def working(trader, account, instrument):
    """BUY 10 @ 100 DAY, published, accepted by the broker and reported Submitted 0/10."""
    return helpers.working(submit(actor=trader, account=account, instrument=instrument))


def status(order, word, filled, remaining):
    return order_apply_broker_status(
        client_order_id=order.client_order_id,
        status=word,
        filled=D(filled),
        remaining=D(remaining),
        avg_fill_price=None,
        order_id=7,
        message_id=uuid.uuid4(),
    )


def modify_command(order) -> messages.OrderModify:
    row = OutboxMessage.objects.filter(type="order.modify").latest("id")
    return messages.decode(
        {"v": "1", "type": row.type, "id": str(row.message_id), "ts": str(time.time_ns()), "data": json.dumps(row.data)}
    )


def test_a_tif_modify_applies_at_once_keeps_the_confirmed_tif_and_sends_it_to_the_worker(trader, working):
    order_modify(order=working, actor=trader, tif="GTC", via="test")
    working.refresh_from_db()
    assert (working.tif, working.modify_prior, working.pending_quantity) == ("GTC", {"tif": "DAY"}, None)
    assert working.modify_requested_at is not None
    command = modify_command(working)
    assert (command.tif, command.quantity, command.limit_price) == ("GTC", None, None)
    event = working.events.get(kind="modify_requested")
    assert (event.data["tif"], event.data["pending"]) == ("GTC", True)
    audit = AuditLog.objects.get(action="order.modify", object_id=str(working.pk))
    assert (audit.before["tif"], audit.after["tif"]) == ("DAY", "GTC")


def test_a_refused_tif_modify_restores_the_tif_the_broker_works(trader, working):
    order_modify(order=working, actor=trader, tif="GTC", limit_price="99.50", via="test")
    order_mark_command_rejected(
        client_order_id=working.client_order_id,
        action="modify",
        code="broker.105",
        reason="Order being modified does not match",
        message_id=uuid.uuid4(),
    )
    working.refresh_from_db()
    assert (working.tif, working.limit_price, working.modify_prior) == ("DAY", D("100"), {})
    assert working.events.get(kind="modify_rejected").data["restored"] == {"limit_price": "100", "tif": "DAY"}


def test_a_tif_modify_sent_with_a_quantity_is_confirmed_with_it(trader, working):
    order_modify(order=working, actor=trader, tif="GTC", quantity=15, via="test")
    status(working, "Submitted", 0, 15)
    working.refresh_from_db()
    assert (working.quantity, working.tif, working.modify_prior, working.modify_requested_at) == (
        D("15"),
        "GTC",
        {},
        None,
    )
    assert working.events.filter(kind="order.status").last().data["modify_confirmed"] == {
        "quantity": "15",
        "tif": "GTC",
    }


def test_an_unsent_order_takes_the_new_tif_in_its_queued_place_command(trader, account, instrument):
    order = submit(actor=trader, account=account, instrument=instrument)
    order_modify(order=order, actor=trader, tif="GTC", via="test")
    order.refresh_from_db()
    assert (order.tif, order.modify_prior, order.modify_requested_at) == ("GTC", {}, None)
    assert OutboxMessage.objects.get(type="order.place").data["tif"] == "GTC"
    assert not OutboxMessage.objects.filter(type="order.modify").exists()


@pytest.mark.parametrize(("entered", "wanted"), [("DAY", "IOC"), ("IOC", "DAY"), ("IOC", "GTC")])
def test_a_working_order_cannot_become_or_stop_being_ioc(trader, account, instrument, entered, wanted):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED, tif=entered)
    before = row_counts()
    with pytest.raises(OrderTifNotModifiable) as refused:
        order_modify(order=order, actor=trader, tif=wanted, via="test")
    assert (refused.value.code, refused.value.field) == ("order.tif_not_modifiable", "tif")
    assert row_counts() == before


def test_an_unknown_tif_is_refused_and_the_same_tif_changes_nothing(trader, working):
    with pytest.raises(OrderInvalid):
        order_modify(order=working, actor=trader, tif="FOK", via="test")
    before = row_counts()
    assert order_modify(order=working, actor=trader, tif="DAY", via="test").tif == "DAY"
    assert row_counts() == before
    with pytest.raises(OrderModifyEmpty):
        order_modify(order=working, actor=trader, tif="", via="test")


def test_the_api_modifies_the_tif_and_refuses_ioc_with_its_code(api_client, trader, working):
    api_client.force_authenticate(trader)
    url = reverse("api-v1:order-detail", kwargs={"client_order_id": working.client_order_id})
    response = api_client.patch(url, {"tif": "GTC", "quantity": "12"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["tif"], body["quantity"], body["pending_quantity"], body["modify_refusal"]) == (
        "GTC",
        "10.0000",
        "12.0000",
        "",
    )
    assert body["modify_requested_at"] is not None
    refused = api_client.patch(url, {"tif": "IOC"}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "order.tif_not_modifiable"
    bad = api_client.patch(url, {"tif": "FOK"}, format="json")
    assert bad.status_code == 400


# --- a modify of prices or TIF alone, confirmed by the terms the status carries ----------------------


def status_with_terms(order, **terms):
    return order_apply_broker_status(
        client_order_id=order.client_order_id,
        status="Submitted",
        filled=D(0),
        remaining=D(10),
        avg_fill_price=None,
        order_id=7,
        message_id=uuid.uuid4(),
        terms={"limit_price": None, "stop_price": None, "tif": None, **terms},
    )


def test_a_price_and_tif_modify_is_confirmed_by_a_status_showing_the_new_terms(trader, working):
    order_modify(order=working, actor=trader, limit_price="99.50", tif="GTC", via="test")
    # The status TWS sent before it applied the modify still shows the old terms: pending.
    status_with_terms(working, limit_price=D("100"), tif="DAY")
    working.refresh_from_db()
    assert working.modify_prior == {"limit_price": "100", "tif": "DAY"}
    # Half of it shown is not the modify confirmed.
    status_with_terms(working, limit_price=D("99.5"), tif="DAY")
    working.refresh_from_db()
    assert working.modify_requested_at is not None

    status_with_terms(working, limit_price=D("99.5"), tif="GTC")
    working.refresh_from_db()
    assert (working.limit_price, working.tif, working.modify_prior, working.modify_requested_at) == (
        D("99.5"),
        "GTC",
        {},
        None,
    )
    event = working.events.filter(kind="order.status").last()
    assert event.data["modify_confirmed"] == {"limit_price": "99.5", "tif": "GTC"}
    assert AuditLog.objects.filter(action="order.modify_confirmed", object_id=str(working.pk)).exists()


def test_a_status_without_terms_leaves_a_price_modify_pending(trader, working):
    order_modify(order=working, actor=trader, limit_price="99.50", via="test")
    status(working, "Submitted", 0, 10)
    working.refresh_from_db()
    assert (working.modify_prior, working.limit_price) == ({"limit_price": "100"}, D("99.5"))


def test_a_pending_quantity_is_confirmed_only_by_the_figures_whatever_the_terms_show(trader, working):
    order_modify(order=working, actor=trader, quantity=15, limit_price="99.50", via="test")
    status_with_terms(working, limit_price=D("99.5"))
    working.refresh_from_db()
    assert (working.quantity, working.pending_quantity, working.modify_prior) == (
        D("10"),
        D("15"),
        {"limit_price": "100"},
    )


def test_a_refused_modify_is_kept_for_the_desk_until_the_next_modify(trader, working):
    order_modify(order=working, actor=trader, limit_price="99.50", via="test")
    order_mark_command_rejected(
        client_order_id=working.client_order_id,
        action="modify",
        code="broker.110",
        reason="The price does not conform to the minimum price variation",
        message_id=uuid.uuid4(),
    )
    working.refresh_from_db()
    assert working.modify_refusal == "broker.110: The price does not conform to the minimum price variation"
    order_modify(order=working, actor=trader, quantity=12, via="test")
    working.refresh_from_db()
    assert (working.modify_refusal, working.pending_quantity) == ("", D("12"))
