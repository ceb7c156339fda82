"""The order admin's Modify page: offered on a working order's page, sent through ``order_modify`` with only the
changed values, refusals on their field with their code, and nothing for a Viewer or another account."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from accounts.models import AuditLog, OutboxMessage
from orders.models import OrderStatus
from orders.tests import helpers
from orders.tests.factories import OrderFactory
from orders.tests.helpers import submit

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def working(trader, account, instrument):
    """BUY 10 AAPL LMT 100 DAY, published, accepted and reported Submitted 0/10."""
    return helpers.working(submit(actor=trader, account=account, instrument=instrument))


def modify_url(order) -> str:
    return f"/admin/orders/order/{order.pk}/modify/"


def test_a_working_orders_page_offers_modify_and_the_form_is_prefilled(client, trader, working):
    client.force_login(trader)
    page = client.get(f"/admin/orders/order/{working.pk}/change/").content.decode()
    assert f'href="{modify_url(working)}"' in page
    form = client.get(modify_url(working))
    assert form.status_code == 200
    body = form.content.decode()
    assert 'name="quantity" value="10"' in body and 'name="limit_price" value="100"' in body
    assert 'name="stop_price"' not in body
    assert '<option value="GTC">' in body and 'value="IOC"' not in body


def test_a_trader_modifies_a_working_order_through_the_service_and_is_told_it_waits_for_the_broker(
    client, trader, working
):
    client.force_login(trader)
    response = client.post(modify_url(working), {"quantity": "12", "limit_price": "100.5", "tif": "DAY"}, follow=True)
    assert response.redirect_chain[-1][0] == f"/admin/orders/order/{working.pk}/change/"
    assert "pending until the broker confirms" in response.content.decode()
    working.refresh_from_db()
    assert (working.quantity, working.pending_quantity, working.limit_price, working.tif) == (
        D("10"),
        D("12"),
        D("100.5"),
        "DAY",
    )
    command = OutboxMessage.objects.get(type="order.modify")
    assert {k: v for k, v in command.data.items() if k != "client_order_id"} == {
        "quantity": "12",
        "limit_price": "100.5",
    }
    audit = AuditLog.objects.get(action="order.modify", object_id=str(working.pk))
    assert (audit.actor, audit.via) == (trader, "admin")
    assert "Modify pending, not yet confirmed by the broker: qty 10 → 12, limit 100 → 100.5." in (
        response.content.decode()
    )


@pytest.mark.parametrize(
    ("posted", "field", "code"),
    [
        ({"quantity": "10", "limit_price": "100.005", "tif": "DAY"}, "limit_price", "order.price_off_tick"),
        ({"quantity": "100000", "limit_price": "100", "tif": "DAY"}, "quantity", "risk.max_quantity"),
        ({"quantity": "10", "limit_price": "100", "tif": "DAY"}, None, "order.modify_empty"),
    ],
)
def test_a_refusal_is_shown_on_its_field_with_its_code_and_changes_nothing(
    client, trader, working, posted, field, code
):
    client.force_login(trader)
    response = client.post(modify_url(working), posted)
    assert response.status_code == 200
    form = response.context["form"]
    errors = form.errors[field] if field else form.non_field_errors()
    assert any(f"({code})" in error for error in errors), form.errors
    assert f"({code})" in response.content.decode()
    working.refresh_from_db()
    assert (working.limit_price, working.modify_requested_at) == (D("100"), None)
    assert not OutboxMessage.objects.filter(type="order.modify").exists()


def test_a_viewer_gets_no_modify_and_is_refused(client, viewer, working):
    client.force_login(viewer)
    page = client.get(f"/admin/orders/order/{working.pk}/change/").content.decode()
    assert "order-modify-link" not in page
    assert client.get(modify_url(working)).status_code == 403
    assert client.post(modify_url(working), {"quantity": "12", "limit_price": "100", "tif": "DAY"}).status_code == 403
    working.refresh_from_db()
    assert working.pending_quantity is None


def test_another_accounts_order_is_not_found(client, trader, other_account, instrument):
    theirs = OrderFactory(account=other_account, instrument=instrument, status=OrderStatus.SUBMITTED)
    client.force_login(trader)
    assert client.get(modify_url(theirs)).status_code == 404


def test_a_final_order_offers_no_modify_and_its_page_sends_back_with_a_warning(client, trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.FILLED)
    client.force_login(trader)
    assert "order-modify-link" not in client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    response = client.post(modify_url(order), {"quantity": "12"}, follow=True)
    assert "it cannot be modified" in response.content.decode()
    assert not OutboxMessage.objects.filter(type="order.modify").exists()


def test_an_ioc_order_offers_no_modify(client, trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED, tif="IOC")
    client.force_login(trader)
    assert "order-modify-link" not in client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    response = client.get(modify_url(order), follow=True)
    assert "is an IOC order: it cannot be modified" in response.content.decode()


def test_the_orders_page_says_a_refused_modify(client, trader, working):
    from orders.services import order_mark_command_rejected

    client.force_login(trader)
    client.post(modify_url(working), {"quantity": "12", "limit_price": "100", "tif": "DAY"})
    order_mark_command_rejected(
        client_order_id=working.client_order_id,
        action="modify",
        code="broker.201",
        reason="Order rejected - reason: margin",
        message_id=uuid.uuid4(),
    )
    page = client.get(f"/admin/orders/order/{working.pk}/change/").content.decode()
    assert "The last modify was refused: broker.201: Order rejected - reason: margin." in page
    assert "Modify pending" not in page
