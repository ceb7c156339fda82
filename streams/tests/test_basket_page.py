"""The Baskets live page: preview (typed or uploaded), one confirmation, the basket's page, Cancel basket."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditLog
from orders.models import Basket, Order, OrderStatus, RiskLimit
from orders.services import basket_submit

pytestmark = pytest.mark.django_db

PAGE = reverse("streams:baskets")
SEND = reverse("streams:basket-send")
LINES = "symbol,side,quantity,limit_price\nAAPL,BUY,10,100.00\nAAPL,BUY,5,99.50\n"


def _lines(html: str) -> list[tuple[str, str]]:
    """The preview's rows as (row number, code): code blank for a line that passes."""
    return re.findall(r'<tr class="basket-line [a-z]+" data-row="(\d+)" data-code="([^"]*)"', html)


def test_the_page_shows_the_form_and_the_recent_baskets(client, trader, account, instrument):
    basket_submit(actor=trader, account=account, lines=[{"symbol": "AAPL", "side": "BUY", "quantity": "1"}], via="t")
    client.force_login(trader)

    html = client.get(PAGE).content.decode()

    assert 'id="basket-form"' in html and 'aria-current="page">Baskets<' in html
    assert "0 of 1 filled, 1 working" in html


def test_a_preview_answers_each_line_and_sends_nothing(client, trader, account, instrument):
    RiskLimit.objects.filter(account=account).update(max_position=Decimal("12"))
    client.force_login(trader)

    html = client.post(PAGE, {"account": account.pk, "lines": LINES}).content.decode()

    assert _lines(html) == [("2", ""), ("3", "risk.max_position")]
    assert 'id="basket-send"' not in html and 'id="basket-fix"' in html
    assert 'id="basket-total">1,000.00<' in html
    assert Order.objects.count() == 0


def test_an_uploaded_file_is_previewed_with_its_unreadable_rows_and_kept_for_editing(
    client, trader, account, instrument
):
    client.force_login(trader)
    upload = SimpleUploadedFile("b.csv", b"symbol,side,quantity\nAAPL,BUY,10\nNOPE,BUY,1\n")

    html = client.post(PAGE, {"account": account.pk, "lines": "", "file": upload}).content.decode()

    assert _lines(html) == [("2", ""), ("3", "basket.csv_unknown_symbol")]
    assert "NOPE,BUY,1" in html
    assert 'id="basket-send"' not in html


def test_an_upload_over_the_limit_is_refused_not_cut_when_it_starts_with_a_bom(client, trader, account, instrument):
    # A spreadsheet's "CSV UTF-8" starts with a 3-byte BOM that decodes to nothing: read to the limit,
    # its text was under the limit in characters, and the last row was cut (quantity 10 read as 1).
    from orders.basket_csv import MAX_BYTES

    head = "\ufeffsymbol,side,quantity,note\nAAPL,BUY,1," + "x" * (MAX_BYTES - 50) + "\n"
    body = (head + "AAPL,BUY,10,\n").encode()
    cut = len(body) - (MAX_BYTES + 1)
    assert cut == 3  # the read stops after "AAPL,BUY,1": the quantity 10 cut to 1
    client.force_login(trader)

    html = client.post(PAGE, {"account": account.pk, "file": SimpleUploadedFile("b.csv", body)}).content.decode()

    assert "basket.csv_not_text" in html
    assert 'id="basket-send"' not in html


@pytest.mark.parametrize("url", [PAGE, SEND])
def test_an_account_of_a_digit_int_cannot_read_is_asked_again(client, trader, account, instrument, url):
    # "²" is a digit to str.isdigit, not to int(): a 500 before.
    client.force_login(trader)
    response = client.post(url, {"account": "²", "lines": LINES})
    assert response.status_code == 200
    assert "Choose one of your accounts." in response.content.decode()
    assert Order.objects.count() == 0


def test_the_confirmation_sends_the_basket_once_and_shows_its_page(client, trader, account, instrument):
    client.force_login(trader)
    html = client.post(PAGE, {"account": account.pk, "name": "open", "lines": LINES}).content.decode()
    assert 'id="basket-send"' in html
    client_basket_id = re.search(r'name="client_basket_id" value="([^"]+)"', html).group(1)
    confirm = {"account": account.pk, "name": "open", "lines": LINES, "client_basket_id": client_basket_id}

    sent = client.post(SEND, confirm)
    again = client.post(SEND, confirm)

    basket = Basket.objects.get()
    assert sent.status_code == again.status_code == 302
    assert sent["Location"] == again["Location"] == reverse("streams:basket", args=[basket.pk])
    assert (basket.name, basket.client_basket_id) == ("open", uuid.UUID(client_basket_id))
    assert basket.orders.count() == 2
    page = client.get(sent["Location"]).content.decode()
    assert page.count('class="order status-new"') == 2
    assert 'id="basket-cancel"' in page


def test_a_line_refused_at_sending_shows_the_preview_again_with_its_code(client, trader, account, instrument):
    client.force_login(trader)
    RiskLimit.objects.filter(account=account).update(max_order_quantity=Decimal("6"))

    html = client.post(SEND, {"account": account.pk, "lines": LINES}).content.decode()

    assert "basket.line_refused" in html
    assert _lines(html) == [("2", "risk.max_quantity"), ("3", "")]
    assert Order.objects.count() == 0


def test_previews_beyond_the_limit_are_refused_on_the_page_with_the_apis_code(
    client, trader, account, instrument, settings, fresh_throttle_counts
):
    # An hour-long window, so the requests cannot straddle a window boundary. The API's preview and
    # the page's count together.
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "basket_previews": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client.force_login(trader)
    api = client.post(
        reverse("api-v1:basket-preview"),
        {"account": account.code, "lines": [{"symbol": "AAPL", "side": "BUY", "quantity": "1"}]},
        content_type="application/json",
    )

    shown = client.post(PAGE, {"account": account.pk, "lines": LINES})
    refused = client.post(PAGE, {"account": account.pk, "lines": LINES})

    assert (api.status_code, shown.status_code) == (200, 200)
    assert _lines(shown.content.decode()) == [("2", ""), ("3", "")]
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 3600
    html = refused.content.decode()
    assert re.search(r'id="basket-problem">Too many basket previews: try again in \d+ s\. \(throttled\)<', html)
    assert _lines(html) == [] and 'id="basket-send"' not in html
    assert Order.objects.count() == 0


def test_cancel_basket_cancels_its_working_orders_with_the_reason(client, trader, account, instrument):
    basket = basket_submit(
        actor=trader, account=account, lines=[{"symbol": "AAPL", "side": "BUY", "quantity": "1"}] * 2,
        confirm_duplicate=True, via="t",
    )  # fmt: skip
    client.force_login(trader)

    response = client.post(reverse("streams:basket-cancel", args=[basket.pk]), {"reason": "wrong side"}, follow=True)

    assert "2 order(s) of the basket cancelled." in response.content.decode()
    assert set(basket.orders.values_list("status", flat=True)) == {OrderStatus.CANCELLED}
    assert AuditLog.objects.get(action="basket.cancel").after["reason"] == "wrong side"
    again = client.post(reverse("streams:basket-cancel", args=[basket.pk]), {"reason": "again"}, follow=True)
    assert "basket.not_cancellable" in again.content.decode()


def test_a_viewer_sees_no_cancel_and_a_stranger_no_basket(client, viewer, user, account, instrument):
    basket = basket_submit(
        actor=None, account=account, lines=[{"symbol": "AAPL", "side": "BUY", "quantity": "1"}], via="t"
    )
    client.force_login(viewer)
    page = client.get(reverse("streams:basket", args=[basket.pk])).content.decode()
    assert 'id="basket-cancel"' not in page
    client.post(reverse("streams:basket-cancel", args=[basket.pk]), {"reason": "no"})
    assert basket.orders.get().status == OrderStatus.NEW

    client.force_login(user)
    assert client.get(reverse("streams:basket", args=[basket.pk])).status_code == 404
