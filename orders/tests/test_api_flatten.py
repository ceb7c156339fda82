"""Flatten in the API: POST a position's, an account's or the desk's flatten."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.selectors import kill_switch_get
from orders.models import Order
from orders.tests.factories import PositionFactory

pytestmark = pytest.mark.django_db


def test_a_trader_flattens_a_position_once_for_one_flatten_id(as_trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    url = reverse("api-v1:position-flatten", kwargs={"pk": position.pk})
    body = {"reason": "end of day", "order_type": "LMT", "flatten_id": str(uuid.uuid4())}

    first = as_trader.post(url, body, format="json")
    again = as_trader.post(url, body, format="json")

    assert first.status_code == again.status_code == 200, first.content
    (order,) = first.json()["orders"]
    assert (order["side"], Decimal(order["quantity"]), order["order_type"], order["source"]) == (
        "SELL",
        Decimal("30"),
        "LMT",
        "api",
    )
    assert again.json()["orders"][0]["client_order_id"] == order["client_order_id"]
    assert Order.objects.count() == 1


def test_a_flat_position_is_a_problem_with_its_code(as_trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("0"))

    response = as_trader.post(reverse("api-v1:position-flatten", kwargs={"pk": position.pk}), {"reason": "x"})

    assert response.status_code == 409
    assert response.json()["code"] == "position.flat"


def test_a_flatten_without_a_reason_is_refused(as_trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("3"))

    response = as_trader.post(reverse("api-v1:position-flatten", kwargs={"pk": position.pk}), {})

    assert response.status_code == 400
    assert not Order.objects.exists()


def test_another_accounts_position_is_not_found(as_trader, other_account, instrument):
    position = PositionFactory(account=other_account, instrument=instrument, quantity=Decimal("3"))

    response = as_trader.post(reverse("api-v1:position-flatten", kwargs={"pk": position.pk}), {"reason": "x"})

    assert response.status_code == 404
    assert not Order.objects.exists()


def test_a_trader_flattens_an_account(as_trader, account, instrument):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("-8"))

    response = as_trader.post(reverse("api-v1:account-flatten", kwargs={"code": account.code}), {"reason": "x"})

    assert response.status_code == 200, response.content
    assert [(o["side"], Decimal(o["quantity"])) for o in response.json()["orders"]] == [("BUY", Decimal("8"))]


def test_a_viewer_may_not_flatten(api_client, viewer, account, instrument):
    api_client.force_authenticate(viewer)
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("8"))

    response = api_client.post(reverse("api-v1:account-flatten", kwargs={"code": account.code}), {"reason": "x"})

    assert response.status_code == 403
    assert not Order.objects.exists()


def test_the_desk_flatten_needs_the_kill_switch_permission_and_may_cancel_and_flatten(
    as_trader, api_client, admin_user, account, instrument
):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("8"))
    url = reverse("api-v1:desk-flatten")

    assert as_trader.post(url, {"reason": "x"}).status_code == 403

    api_client.force_authenticate(admin_user)
    response = api_client.post(url, {"reason": "crash", "cancel_and_flatten": True}, format="json")

    assert response.status_code == 200, response.content
    assert [(o["side"], Decimal(o["quantity"])) for o in response.json()["orders"]] == [("SELL", Decimal("8"))]
    assert kill_switch_get().engaged


def test_the_positions_list_gives_the_id_the_flatten_endpoint_takes(as_trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))

    (listed,) = as_trader.get(reverse("api-v1:position-list")).json()["results"]

    assert listed["id"] == position.pk
