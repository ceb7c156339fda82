"""Quantity increments (issue 16 #2): 1.5 shares of AAPL are refused at every entry point.

Admin form, API (entry and modify), scheduled order creation, the monitor's protective and
replacement orders; the worker's gate is in ``execution_worker/tests/test_quantity_increment.py``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Alert
from orders import monitoring
from orders.exceptions import OrderQuantityIncrement
from orders.models import Order, OrderEvent, OrderStatus, ScheduledOrder
from orders.services import instrument_update, order_mark_rejected, order_submit, scheduled_order_create
from orders.tests.helpers import SCHEDULE, buy, order_body, post_order, report_broker, row_counts, set_policy

# The monitor tests here start as the monitoring module's do: no cached books, quiet system alerts.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_monitor_state")]


def _submit(actor, account, instrument, quantity, **more):
    fields = {"side": "BUY", "order_type": "LMT", "limit_price": Decimal("100"), "source": "admin", "via": "test"}
    return order_submit(actor=actor, account=account, instrument=instrument, quantity=quantity, **{**fields, **more})


def test_a_fractional_stock_quantity_is_refused_naming_the_increment_and_leaves_nothing(trader, account, instrument):
    before = row_counts()
    with pytest.raises(OrderQuantityIncrement) as refused:
        _submit(trader, account, instrument, "1.5")
    assert refused.value.code == "order.quantity_increment" and refused.value.field == "quantity"
    assert "AAPL trades in increments of 1" in refused.value.message and "1.5" in refused.value.message
    assert row_counts() == before


def test_an_instrument_with_its_own_increment_and_minimum_takes_multiples_of_it(
    admin_user, trader, account, instrument
):
    instrument = instrument_update(
        instrument=instrument, actor=admin_user, via="test", quantity_increment="0.5", min_quantity="1"
    )
    order = _submit(trader, account, instrument, "1.5")
    assert order.quantity == Decimal("1.5")
    for quantity in ("1.25", "0.5"):
        with pytest.raises(OrderQuantityIncrement, match=r"increments of 0\.5 \(at least 1\)"):
            _submit(trader, account, instrument, quantity)


def test_the_admin_form_shows_the_refusal_on_the_quantity(client, trader, account, instrument):
    client.force_login(trader)
    response = client.post(
        reverse("admin:orders_order_add"),
        {
            "client_order_id": str(uuid.uuid4()),
            "account": account.pk,
            "instrument": instrument.pk,
            "side": "BUY",
            "quantity": "1.5",
            "order_type": "LMT",
            "limit_price": "100",
            "tif": "DAY",
        },
    )
    assert response.status_code == 200
    assert "(order.quantity_increment)" in str(response.context["adminform"].form.errors["quantity"])
    assert not Order.objects.exists()


def test_the_api_answers_400_quantity_increment(api_client, trader, account, instrument):
    api_client.force_authenticate(trader)
    response = post_order(api_client, order_body(quantity="1.5"))
    assert response.status_code == 400
    assert response.json()["code"] == "order.quantity_increment"
    assert "increments of 1" in response.json()["detail"]
    assert not Order.objects.exists()


def test_a_modify_to_a_fractional_quantity_is_refused(api_client, trader, account, instrument):
    api_client.force_authenticate(trader)
    order = Order.objects.get(client_order_id=post_order(api_client, order_body()).json()["client_order_id"])
    url = reverse("api-v1:order-detail", kwargs={"client_order_id": order.client_order_id})
    response = api_client.patch(url, {"quantity": "10.5"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "order.quantity_increment")
    order.refresh_from_db()
    assert (order.quantity, order.pending_quantity) == (Decimal("10"), None)


def test_a_scheduled_order_with_a_fractional_quantity_is_refused_at_creation(api_client, trader, account, instrument):
    api_client.force_authenticate(trader)
    response = api_client.post(reverse("api-v1:scheduled-order-list"), {**SCHEDULE, "quantity": "1.5"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "order.quantity_increment")
    fields = {key: value for key, value in SCHEDULE.items() if key not in ("account", "symbol")}
    with pytest.raises(OrderQuantityIncrement):
        scheduled_order_create(
            actor=trader,
            account=account,
            via="test",
            **{**fields, "instrument": instrument, "quantity": Decimal("2.5")},
        )
    assert not ScheduledOrder.objects.exists()


def test_the_monitor_does_not_protect_a_fractional_position_with_a_fractional_order(account, instrument):
    set_policy(account, stop_loss_pct=Decimal("2"))
    buy(account, instrument, "10.5", "100")  # bought in TWS: fills keep whatever the broker filled
    report_broker(account, instrument, Decimal("10.5"))

    monitoring.monitoring_run()

    assert not Order.objects.filter(source="monitor").exists()
    alert = Alert.objects.get(kind="protection.refused")
    assert "order.quantity_increment" in alert.message


def test_the_monitor_does_not_re_place_a_rejected_fractional_order(account, instrument):
    set_policy(account, reject_retry_max=2)
    # An order a strategy XADDed directly, recorded by the bridge from the worker's events.
    original = Order.objects.create(
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("2.5"),
        order_type="LMT",
        limit_price=Decimal("99"),
        source="strategy",
        status=OrderStatus.NEW,
    )
    order_mark_rejected(client_order_id=original.client_order_id, code="risk.rate", reason="pacing")

    monitoring.monitoring_run()

    assert Order.objects.count() == 1
    event = OrderEvent.objects.get(order=original, kind="monitor.not_replaced")
    assert "order.quantity_increment" in event.detail
