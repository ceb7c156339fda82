"""The positions changelist's Flatten actions: a confirmation step (reason, order type), then the orders."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from accounts.selectors import kill_switch_get
from orders.models import Order
from orders.tests.factories import InstrumentFactory, PositionFactory

pytestmark = pytest.mark.django_db

POSITIONS_URL = reverse("admin:orders_position_changelist")


def test_flatten_asks_for_the_reason_and_type_then_enters_the_closing_order_once(client, trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(trader)

    asked = client.post(POSITIONS_URL, {"action": "flatten_positions", "_selected_action": [position.pk]})

    assert asked.status_code == 200
    assert asked.template_name == "admin/action_with_reason.html"
    form = asked.context["form"]
    assert set(form.fields) == {"reason", "order_type", "flatten_id"}
    assert not Order.objects.exists()
    # Without a reason: the same step again, nothing sent.
    again = client.post(
        POSITIONS_URL,
        {"action": "flatten_positions", "_selected_action": [position.pk], "apply": "1", "order_type": "MKT"},
    )
    assert again.status_code == 200 and "reason" in again.context["form"].errors
    assert not Order.objects.exists()

    answer = {
        "action": "flatten_positions",
        "_selected_action": [position.pk],
        "apply": "1",
        "reason": "end of day",
        "order_type": "LMT",
        "flatten_id": str(form.initial["flatten_id"]),
    }
    # The confirmation posted twice (a double click): one order.
    client.post(POSITIONS_URL, answer)
    client.post(POSITIONS_URL, answer)

    order = Order.objects.get()
    assert (order.side, order.quantity, order.order_type, order.limit_price) == (
        "SELL",
        Decimal("30"),
        "LMT",
        Decimal("100.00"),
    )
    audit = AuditLog.objects.get(action="position.flatten")
    assert (audit.actor, audit.via, audit.after["reason"]) == (trader, "admin", "end of day")


def test_flatten_accounts_closes_every_position_of_the_selected_accounts(client, trader, account, instrument):
    msft = InstrumentFactory(symbol="MSFT")
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    PositionFactory(account=account, instrument=msft, quantity=Decimal("-2"))
    client.force_login(trader)

    response = client.post(
        POSITIONS_URL,
        {
            "action": "flatten_accounts",
            "_selected_action": [position.pk],
            "apply": "1",
            "reason": "close the book",
            "order_type": "MKT",
            "flatten_id": "6f1c1f39-3c2f-4e5c-9a53-5d8a3f0e7b11",
        },
        follow=True,
    )

    assert sorted(Order.objects.values_list("instrument__symbol", "side")) == [("AAPL", "SELL"), ("MSFT", "BUY")]
    assert "2 closing order(s) entered." in response.content.decode()
    assert AuditLog.objects.filter(action="account.flatten").count() == 1


def test_a_viewer_has_no_flatten_action(client, viewer, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(viewer)

    response = client.get(POSITIONS_URL)

    assert response.status_code == 200
    assert "flatten_positions" not in response.content.decode()
    client.post(POSITIONS_URL, {"action": "flatten_positions", "_selected_action": [position.pk], "apply": "1"})
    assert not Order.objects.exists()


KILL_SWITCH_URL = reverse("admin:accounts_killswitch_changelist")


def test_the_kill_switch_page_engages_in_cancel_and_flatten_mode(client, admin_user, account, instrument):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(admin_user)
    assert "Cancel and flatten" in client.get(KILL_SWITCH_URL).content.decode()

    client.post(KILL_SWITCH_URL, {"operation": "engage", "reason": "crash", "cancel_working": "on", "flatten": "on"})

    assert kill_switch_get().engaged
    assert list(Order.objects.values_list("side", "quantity")) == [("SELL", Decimal("30"))]
    assert AuditLog.objects.get(action="desk.flatten").after["past_kill_switch"] is True


def test_the_kill_switch_page_without_flatten_only_engages(client, admin_user, account, instrument):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(admin_user)

    client.post(KILL_SWITCH_URL, {"operation": "engage", "reason": "crash", "cancel_working": "on"})

    assert kill_switch_get().engaged
    assert not Order.objects.exists()
