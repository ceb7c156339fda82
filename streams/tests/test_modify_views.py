"""The live blotter's Modify: the dialog prefilled from the order, the post through ``order_modify``, the row's
"modify pending" badge, and refusals as problem+json with their code."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from accounts.models import AuditLog, OutboxMessage
from orders.models import OrderStatus
from orders.services import order_apply_broker_status
from orders.tests import helpers
from orders.tests.factories import OrderFactory
from streams import rows

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def working(submit):
    """BUY 10 AAPL LMT 100 DAY, published, accepted and reported Submitted 0/10."""
    return helpers.working(submit())


def url(order) -> str:
    return f"/live/orders/{order.pk}/modify"


def test_a_trader_sees_modify_on_a_working_row_and_a_dialog_prefilled_with_the_order(
    client, trader, working, redis_client
):
    client.force_login(trader)
    assert f'hx-get="{url(working)}"' in client.get("/live/orders/").content.decode()
    dialog = client.get(url(working))
    assert dialog.status_code == 200
    body = dialog.content.decode()
    assert 'name="quantity" inputmode="decimal" value="10" required autofocus' in body
    assert 'name="limit_price" inputmode="decimal" value="100"' in body
    assert 'name="stop_price"' not in body  # a limit order takes no stop price
    assert '<option value="DAY" selected>' in body and '<option value="GTC">' in body
    assert 'value="IOC"' not in body
    assert "csrfmiddlewaretoken" in body


def test_a_modify_sends_only_what_changed_and_the_row_shows_it_pending_until_the_broker_confirms(
    client, trader, working, redis_client
):
    client.force_login(trader)
    response = client.post(url(working), {"quantity": "15", "limit_price": "100", "tif": "GTC"})
    assert response.status_code == 200, response.content
    html = response.content.decode()
    assert f'id="order-{working.pk}"' in html
    assert "modify pending: qty 10 → 15, TIF DAY → GTC" in html
    command = OutboxMessage.objects.filter(type="order.modify").get()
    assert {k: v for k, v in command.data.items() if k != "client_order_id"} == {"quantity": "15", "tif": "GTC"}
    audit = AuditLog.objects.get(action="order.modify", object_id=str(working.pk))
    assert (audit.actor, audit.via) == (trader, "dashboard")

    order_apply_broker_status(
        client_order_id=working.client_order_id,
        status="Submitted",
        filled=0,
        remaining=15,
        avg_fill_price=None,
        order_id=7,
        message_id=uuid.uuid4(),
    )
    row = rows.order_row_by_id(working.pk)["ctx"]
    assert (row["quantity"], row["tif"], row["modify_pending"], row["modify_pending_text"]) == ("15", "GTC", False, "")


def test_a_viewer_sees_no_modify_and_is_refused_with_403(client, viewer, working, redis_client):
    client.force_login(viewer)
    assert "live-modify" not in client.get("/live/orders/").content.decode()
    for response in (client.get(url(working)), client.post(url(working), {"quantity": "20"})):
        assert response.status_code == 403
        assert response.json()["code"] == "permission.denied"
    working.refresh_from_db()
    assert (working.pending_quantity, OutboxMessage.objects.filter(type="order.modify").count()) == (None, 0)


def test_another_accounts_order_is_not_found(client, trader, other_account, instrument, redis_client):
    theirs = OrderFactory(account=other_account, instrument=instrument, status=OrderStatus.SUBMITTED)
    client.force_login(trader)
    assert client.get(url(theirs)).status_code == 404
    response = client.post(url(theirs), {"quantity": "20"})
    assert (response.status_code, response.json()["code"]) == (404, "order.not_found")


@pytest.mark.parametrize("status", [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.CANCEL_REQUESTED])
def test_a_final_or_cancelling_order_offers_no_modify_and_a_post_is_refused_with_its_code(
    client, trader, account, instrument, redis_client, status
):
    order = OrderFactory(account=account, instrument=instrument, status=status, quantity=D("10"))
    client.force_login(trader)
    assert "live-modify" not in client.get("/live/orders/").content.decode()
    assert client.get(url(order)).json()["code"] == "order.not_modifiable"
    response = client.post(url(order), {"quantity": "20"})
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "order.not_modifiable"


@pytest.mark.parametrize(
    ("posted", "code", "status"),
    [
        ({"limit_price": "100.001"}, "order.price_off_tick", 400),
        ({"quantity": "ten"}, "order.invalid", 400),
        ({"tif": "IOC"}, "order.tif_not_modifiable", 409),
        ({"quantity": "10", "limit_price": "100"}, "order.modify_empty", 400),
    ],
)
def test_a_refused_modify_answers_its_code_and_changes_nothing(
    client, trader, working, redis_client, posted, code, status
):
    client.force_login(trader)
    response = client.post(url(working), posted)
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    working.refresh_from_db()
    assert (working.limit_price, working.tif, working.modify_requested_at) == (D("100"), "DAY", None)


def test_an_ioc_order_offers_no_modify(client, trader, account, instrument, redis_client):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED, tif="IOC")
    client.force_login(trader)
    page = client.get("/live/orders/").content.decode()
    assert f'id="order-{order.pk}"' in page and "live-modify" not in page
    refused = client.get(url(order))
    assert (refused.status_code, refused.json()["code"]) == (409, "order.tif_not_modifiable")


def test_a_modify_the_broker_refuses_is_said_on_the_row_until_the_next_modify(client, trader, working, redis_client):
    from orders.services import order_mark_command_rejected

    client.force_login(trader)
    client.post(url(working), {"limit_price": "100.5"})
    order_mark_command_rejected(
        client_order_id=working.client_order_id,
        action="modify",
        code="risk.price_collar",
        reason="too far from the last price",
        message_id=uuid.uuid4(),
    )
    page = client.get("/live/orders/").content.decode()
    assert "modify refused: risk.price_collar: too far from the last price" in page
    assert "modify pending" not in page
    html = client.post(url(working), {"quantity": "11"}).content.decode()
    assert "modify refused" not in html and "modify pending: qty 10 → 11" in html
