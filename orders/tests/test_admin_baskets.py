"""Baskets in the admin: read-only with their orders and progress, cancelled by the action with a reason."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from orders.models import Basket, OrderStatus
from orders.services import basket_submit

pytestmark = pytest.mark.django_db

BASKETS_URL = reverse("admin:orders_basket_changelist")
LINES = [
    {"symbol": "AAPL", "side": "BUY", "quantity": "10", "limit_price": "100.00"},
    {"symbol": "AAPL", "side": "BUY", "quantity": "5", "limit_price": "99.00"},
]


def test_the_list_shows_each_baskets_progress_and_the_page_its_orders(client, viewer, account, instrument):
    basket = basket_submit(actor=None, account=account, lines=LINES, name="open", via="test")
    first = basket.orders.order_by("id").first()
    basket.orders.filter(pk=first.pk).update(status=OrderStatus.FILLED, filled_quantity=10)
    client.force_login(viewer)

    listed = client.get(BASKETS_URL)
    page = client.get(reverse("admin:orders_basket_change", args=[basket.pk]))

    assert listed.status_code == 200
    assert "1 of 2 filled, 1 working" in listed.text
    assert page.status_code == 200
    assert str(first.client_order_id) in page.text
    assert client.get(reverse("admin:orders_basket_add")).status_code == 403


def test_cancel_asks_for_the_reason_then_cancels_the_working_orders(client, trader, account, instrument):
    basket = basket_submit(actor=None, account=account, lines=LINES, via="test")
    client.force_login(trader)

    asked = client.post(BASKETS_URL, {"action": "cancel_baskets", "_selected_action": [basket.pk]})
    assert asked.status_code == 200 and 'name="reason"' in asked.text
    assert basket.orders.filter(status=OrderStatus.NEW).count() == 2

    done = client.post(
        BASKETS_URL,
        {"action": "cancel_baskets", "_selected_action": [basket.pk], "apply": "1", "reason": "wrong list"},
        follow=True,
    )

    assert "2 order(s) of 1 basket(s) cancelled." in done.text
    assert set(basket.orders.values_list("status", flat=True)) == {OrderStatus.CANCELLED}
    assert Basket.objects.get(pk=basket.pk).status == Basket.Status.CANCELLED
    assert AuditLog.objects.get(action="basket.cancel").after["reason"] == "wrong list"


def test_a_viewer_has_no_cancel_action(client, viewer, account, instrument):
    basket = basket_submit(actor=None, account=account, lines=LINES, via="test")
    client.force_login(viewer)

    client.post(BASKETS_URL, {"action": "cancel_baskets", "_selected_action": [basket.pk], "apply": "1", "reason": "x"})

    assert basket.orders.filter(status=OrderStatus.NEW).count() == 2
