"""The live pages' Flatten buttons (position row, account row): a reason, one order per click, refusals as problems."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from orders.models import Order
from orders.tests.factories import PositionFactory

pytestmark = pytest.mark.django_db


def test_a_position_is_flattened_once_for_a_double_click_and_its_row_comes_back(client, trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(trader)
    url = reverse("streams:position-flatten", args=[position.pk])

    first = client.post(url, {"nonce": "1733590000.123456"}, HTTP_HX_PROMPT="end of day")
    second = client.post(url, {"nonce": "1733590000.123456"}, HTTP_HX_PROMPT="end of day")

    assert first.status_code == second.status_code == 200
    assert f'id="position-{position.pk}"' in first.content.decode()
    order = Order.objects.get()
    assert (order.side, order.quantity, order.order_type) == ("SELL", Decimal("30"), "MKT")
    assert AuditLog.objects.get(action="position.flatten").after["reason"] == "end of day"
    # The row swapped in carries another nonce: a later click is another flatten.
    client.post(url, {"nonce": "1733590099.000001"}, HTTP_HX_PROMPT="again")
    assert Order.objects.count() == 2


def test_the_at_quote_button_flattens_with_a_limit_at_the_quote(client, trader, account):
    from orders.tests.factories import InstrumentFactory

    instrument = InstrumentFactory(symbol="MSFT", last_price=Decimal("250.137"), min_tick=Decimal("0.01"))
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("-12"))
    client.force_login(trader)
    assert 'class="button flatten-quote"' in client.get(reverse("streams:positions")).content.decode()

    response = client.post(
        reverse("streams:position-flatten", args=[position.pk]),
        {"nonce": "1733590000.1", "order_type": "LMT"},
        HTTP_HX_PROMPT="risk",
    )

    assert response.status_code == 200
    order = Order.objects.get()
    # No live quote in this Redis: the last price, rounded up on the tick for a buy.
    assert (order.side, order.quantity, order.order_type, order.limit_price) == (
        "BUY",
        Decimal("12"),
        "LMT",
        Decimal("250.14"),
    )


def test_a_flatten_of_another_order_type_is_a_problem(client, trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(trader)

    response = client.post(
        reverse("streams:position-flatten", args=[position.pk]), {"order_type": "STP"}, HTTP_HX_PROMPT="x"
    )

    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("order.invalid", "order_type")
    assert not Order.objects.exists()


def test_a_flatten_without_a_reason_is_a_problem(client, trader, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(trader)

    response = client.post(reverse("streams:position-flatten", args=[position.pk]))

    assert response.status_code == 400
    assert response.json()["code"] == "order.invalid"
    assert not Order.objects.exists()


def test_a_viewer_sees_no_flatten_button_and_is_refused(client, viewer, account, instrument):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(viewer)

    assert 'class="button flatten"' not in client.get(reverse("streams:positions")).content.decode()
    response = client.post(reverse("streams:position-flatten", args=[position.pk]), HTTP_HX_PROMPT="x")

    assert response.status_code == 403
    assert not Order.objects.exists()


def test_an_account_row_flattens_the_account(client, trader, account, instrument):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("-3"))
    client.force_login(trader)
    assert 'class="button flatten"' in client.get(reverse("streams:desk")).content.decode()

    response = client.post(reverse("streams:account-flatten", args=[account.pk]), HTTP_HX_PROMPT="close the book")

    assert response.status_code == 200
    assert f'id="account-{account.pk}"' in response.content.decode()
    assert list(Order.objects.values_list("side", "quantity")) == [("BUY", Decimal("3"))]


def test_a_rows_two_flatten_buttons_carry_one_nonce(client, trader, account, instrument):
    # The nonce names the row as rendered: Flatten then "at quote" on the same row is one flatten
    # (the second returns the first's order), not a second closing order beside a cancel in flight.
    import re

    PositionFactory(account=account, instrument=instrument, quantity=Decimal("30"))
    client.force_login(trader)

    for page in ("streams:positions", "streams:desk"):
        html = client.get(reverse(page)).content.decode()
        nonces = re.findall(r"class=\"button flatten(?:-quote)?\"[^>]*hx-vals='\{\"nonce\": \"([^\"]+)\"", html)
        assert len(nonces) == 2 and nonces[0] == nonces[1], (page, nonces)
