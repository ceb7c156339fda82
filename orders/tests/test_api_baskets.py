"""Baskets in the API: JSON lines and CSV uploads, refusals as problem+json, progress, cancel, scoping."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from orders.models import Basket, Order, OrderStatus, RiskLimit
from orders.services import basket_submit

pytestmark = pytest.mark.django_db

BASKETS = reverse("api-v1:basket-list")
PREVIEW = reverse("api-v1:basket-preview")


def lines(*changes: dict) -> list[dict]:
    base = {"symbol": "AAPL", "side": "BUY", "quantity": "10", "limit_price": "100.00"}
    return [{**base, **change} for change in changes]


def test_a_json_basket_is_entered_with_its_orders_and_progress(as_trader, account):
    response = as_trader.post(
        BASKETS,
        {"account": "DU0000001", "name": "open", "lines": lines({}, {"quantity": 5, "limit_price": "99.50"})},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert response["Location"] == reverse("api-v1:basket-detail", kwargs={"pk": body["id"]})
    assert (body["name"], body["account"], body["status"], body["created_by"]) == (
        "open",
        "DU0000001",
        "sent",
        "trader",
    )
    assert [(o["quantity"], o["order_type"], o["source"]) for o in body["orders"]] == [
        ("10.0000", "LMT", "api"),
        ("5.0000", "LMT", "api"),
    ]
    assert body["progress"] == {
        "orders": 2,
        "working": 2,
        "filled": 0,
        "by_status": {"NEW": 2},
        "quantity": "15.0000",
        "filled_quantity": "0.0000",
        "done": False,
    }


def test_a_csv_upload_is_entered_and_a_bad_row_refuses_it_with_each_row_named(as_trader, account):
    good = SimpleUploadedFile("basket.csv", b"symbol,side,quantity,limit_price\nAAPL,BUY,10,100\nAAPL,SELL,3,\n")
    response = as_trader.post(BASKETS, {"account": "DU0000001", "file": good}, format="multipart")
    assert response.status_code == 201, response.content
    assert [o["order_type"] for o in response.json()["orders"]] == ["LMT", "MKT"]

    bad = SimpleUploadedFile("basket.csv", b"symbol,side,quantity\nAAPL,BUY,10\nZZZZ,HOLD,x\n")
    response = as_trader.post(BASKETS, {"account": "DU0000001", "file": bad}, format="multipart")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "basket.csv_invalid"
    assert [(r["row"], r["code"]) for r in problem["rows"]] == [
        (3, "basket.csv_unknown_symbol"),
        (3, "basket.csv_bad_side"),
        (3, "basket.csv_bad_number"),
    ]
    assert Order.objects.count() == 2


def test_a_refused_line_refuses_the_basket_with_each_line_and_its_code(as_trader, account):
    RiskLimit.objects.filter(account=account).update(max_position=Decimal("15"))

    response = as_trader.post(
        BASKETS, {"account": "DU0000001", "lines": lines({}, {"limit_price": "99"}, {"side": "HOLD"})}, format="json"
    )

    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "basket.line_refused"
    assert [(r["line"], r["code"]) for r in problem["lines"]] == [(2, "risk.max_position"), (3, "order.invalid")]
    assert Order.objects.count() == 0 and Basket.objects.count() == 0


@pytest.mark.parametrize("quantity", ["1e400", "9" * 30])
def test_a_quantity_of_more_digits_than_decimal_holds_is_a_refused_line_not_a_server_error(
    as_trader, account, quantity
):
    # A basket's quantity is text (JSON or CSV): quantize raised InvalidOperation past 28 digits.
    response = as_trader.post(BASKETS, {"account": "DU0000001", "lines": lines({"quantity": quantity})}, format="json")
    assert response.status_code == 422, response.content
    assert [(r["line"], r["code"], r["field"]) for r in response.json()["lines"]] == [(1, "order.invalid", "quantity")]

    upload = SimpleUploadedFile("basket.csv", f"symbol,side,quantity\nAAPL,BUY,{quantity}\n".encode())
    response = as_trader.post(PREVIEW, {"account": "DU0000001", "file": upload}, format="multipart")
    assert response.status_code == 200, response.content
    assert [(line["code"], line["field"]) for line in response.json()["lines"]] == [("order.invalid", "quantity")]
    assert Order.objects.count() == 0


def test_the_same_client_basket_id_returns_the_first_basket(as_trader, account):
    body = {"account": "DU0000001", "client_basket_id": str(uuid.uuid4()), "lines": lines({})}

    first = as_trader.post(BASKETS, body, format="json")
    again = as_trader.post(BASKETS, body, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Order.objects.count() == 1


def test_lines_and_a_file_together_or_neither_are_a_validation_error(as_trader, account):
    response = as_trader.post(BASKETS, {"account": "DU0000001"}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")

    response = as_trader.post(BASKETS, {"account": "DU0000002", "lines": lines({})}, format="json")
    assert response.json()["errors"]["account"]


def test_the_preview_answers_each_line_and_enters_nothing(as_trader, account):
    RiskLimit.objects.filter(account=account).update(max_position=Decimal("15"))

    response = as_trader.post(
        PREVIEW, {"account": "DU0000001", "lines": lines({}, {"limit_price": "99"})}, format="json"
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is False
    assert body["notional"] == "1000.00"
    assert [(line["line"], line["code"], line["notional"]) for line in body["lines"]] == [
        (1, "", "1000.00"),
        (2, "risk.max_position", None),
    ]
    assert Order.objects.count() == 0


def test_a_csv_naming_a_column_twice_is_refused_whole(as_trader, account):
    upload = SimpleUploadedFile("basket.csv", b"symbol,side,quantity,quantity\nAAPL,BUY,10,1\n")

    response = as_trader.post(BASKETS, {"account": "DU0000001", "file": upload}, format="multipart")

    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "basket.csv_invalid"
    assert [(r["row"], r["code"], r["field"]) for r in problem["rows"]] == [
        (1, "basket.csv_duplicate_column", "quantity")
    ]
    assert Order.objects.count() == 0


def test_previews_are_throttled_per_user_and_a_sent_basket_counts_as_an_order_entry(
    as_trader, account, settings, fresh_throttle_counts
):
    # An hour-long window, so the requests cannot straddle a window boundary.
    rates = {"orders": "1/hour", "basket_previews": "2/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    body = {"account": "DU0000001", "lines": lines({})}

    previews = [as_trader.post(PREVIEW, body, format="json") for _ in range(3)]
    sent = [as_trader.post(BASKETS, {**body, "lines": lines({"quantity": str(n)})}, format="json") for n in (1, 2)]

    assert [response.status_code for response in previews] == [200, 200, 429]
    refused = previews[-1]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 3600
    # Sending is counted as order entry, not as a preview: the preview limit reached does not refuse it.
    assert [response.status_code for response in sent] == [201, 429]
    assert sent[-1].json()["code"] == "throttled"
    assert Order.objects.count() == 1


def test_the_list_and_detail_show_only_your_accounts_baskets(as_trader, account, other_account, instrument, admin_user):
    mine = basket_submit(actor=None, account=account, lines=lines({}), via="test")
    basket_submit(actor=admin_user, account=other_account, lines=lines({}), via="test")
    Order.objects.filter(basket=mine).update(status=OrderStatus.FILLED, filled_quantity=Decimal("10"))

    listed = as_trader.get(BASKETS).json()["results"]
    assert [(b["id"], b["progress"]["filled"], b["progress"]["done"]) for b in listed] == [(mine.pk, 1, True)]
    theirs = Basket.objects.exclude(pk=mine.pk).get()
    assert as_trader.get(reverse("api-v1:basket-detail", kwargs={"pk": theirs.pk})).status_code == 404


def test_cancel_cancels_the_working_orders_and_a_second_cancel_is_refused(as_trader, account, instrument):
    basket = basket_submit(actor=None, account=account, lines=lines({}, {"limit_price": "99"}), via="test")
    url = reverse("api-v1:basket-cancel", kwargs={"pk": basket.pk})

    response = as_trader.post(url, {"reason": "spread too wide"}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["cancelled"]) == 2
    assert body["basket"]["status"] == "cancelled"
    assert body["basket"]["progress"]["by_status"] == {"CANCELLED": 2}
    again = as_trader.post(url, {"reason": "again"}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "basket.not_cancellable")


def test_an_orders_basket_is_in_its_output_and_the_order_list_filters_by_it(as_trader, account):
    sent = as_trader.post(BASKETS, {"account": "DU0000001", "lines": lines({}, {"quantity": 4})}, format="json").json()
    as_trader.post(BASKETS, {"account": "DU0000001", "lines": lines({"quantity": 3})}, format="json")

    listed = as_trader.get(reverse("api-v1:order-list"), {"basket": sent["id"]}).json()["results"]

    assert len(listed) == 2
    assert {o["basket"] for o in listed} == {sent["id"]}
