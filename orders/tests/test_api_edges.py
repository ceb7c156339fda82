"""The API's edges that Schemathesis found (issue 15, finding 7): paging, OPTIONS, nulls, times, ids."""

from __future__ import annotations

import datetime
import re
import uuid
from datetime import time

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from accounts.models import Alert
from accounts.services import alert_raise
from orders.models import Order, ScheduledOrder
from orders.services import occurrence_client_order_id
from orders.tests.factories import OrderFactory, PositionFactory
from tradeconsole.pagination import MAX_LIMIT

pytestmark = pytest.mark.django_db

HUGE = "19209838153933623296"
LISTS = ["orders/", "positions/", "instruments/", "accounts/", "scheduled-orders/", "alerts/", "fills/"]


@pytest.fixture
def as_trader(api_client, trader, account, instrument):
    api_client.force_authenticate(trader)
    OrderFactory(account=account, instrument=instrument)
    PositionFactory(account=account, instrument=instrument)
    ScheduledOrder.objects.create(
        name="open", account=account, instrument=instrument, side="BUY", quantity=1, time_of_day=time(9, 35)
    )
    return api_client


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    "query",
    [
        f"limit={HUGE}",
        f"offset={HUGE}",
        "offset=null",
        "limit=null",
        "limit=0",
        "limit=-1",
        "offset=1.5",
        "limit=5&limit=6",
    ],
)
def test_a_page_size_or_offset_out_of_range_or_not_a_number_is_a_400(as_trader, path, query):
    response = as_trader.get(f"/api/v1/{path}?{query}")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"


@pytest.mark.parametrize("path", LISTS)
def test_paging_within_range_still_works(as_trader, path):
    response = as_trader.get(f"/api/v1/{path}?limit={MAX_LIMIT}&offset=0")

    assert response.status_code == 200, response.content
    assert response.json()["count"] >= 0


def test_the_schema_says_how_far_a_list_pages():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/orders/"]["get"]["parameters"]}
    assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
    assert parameters["offset"]["maximum"] < 2**63


@pytest.mark.parametrize("path", ["orders/", "scheduled-orders/", "orders/00000000-0000-4000-8000-000000000000/"])
def test_options_names_the_endpoint_instead_of_failing(as_trader, path):
    response = as_trader.options(f"/api/v1/{path}")

    assert response.status_code in (200, 404), response.content
    if response.status_code == 200:
        assert response.json()["name"]


def test_a_desk_wide_alert_has_a_null_account_and_the_schema_allows_it(as_trader):
    alert_raise(key="desk", kind="desk", message="desk-wide", severity=Alert.Severity.INFO)
    schema = SchemaGenerator().get_schema(request=None, public=True)

    body = as_trader.get("/api/v1/alerts/").json()

    assert [a["account"] for a in body["results"]] == [None]
    assert schema["components"]["schemas"]["AlertOutput"]["properties"]["account"].get("nullable") is True


def test_a_schedules_time_of_day_is_documented_as_a_local_wall_clock_time(as_trader):
    schema = SchemaGenerator().get_schema(request=None, public=True)
    documented = schema["components"]["schemas"]["ScheduledOrderOutput"]["properties"]["time_of_day"]

    body = as_trader.get("/api/v1/scheduled-orders/").json()

    assert "format" not in documented and documented["pattern"]
    assert re.match(documented["pattern"], body["results"][0]["time_of_day"])
    assert schema["components"]["schemas"]["ScheduledOrderOutput"]["properties"]["strategy"].get("nullable") is True


@pytest.mark.parametrize("given", ["09:35:00+05:00", "9:35", "09:35Z", "24:00"])
def test_a_time_of_day_with_an_offset_or_malformed_is_refused(as_trader, account, given):
    body = {"name": "x", "account": account.code, "symbol": "AAPL", "side": "BUY", "quantity": "1"}

    response = as_trader.post(reverse("api-v1:scheduled-order-list"), {**body, "time_of_day": given}, format="json")

    assert response.status_code == 400, response.content
    assert "time_of_day" in response.json()["errors"]


def _post_order(client, account, client_order_id):
    body = {"account": account.code, "symbol": "AAPL", "side": "BUY", "quantity": "1", "order_type": "MKT"}
    return client.post(
        reverse("api-v1:order-list"),
        {**body, "client_order_id": str(client_order_id)},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )


def test_a_desk_derived_id_is_refused_whether_or_not_another_account_holds_it(
    as_trader, account, other_account, instrument
):
    schedule = ScheduledOrder.objects.get()
    taken = occurrence_client_order_id(schedule.pk + 1, datetime.date(2026, 12, 7))
    OrderFactory(account=other_account, instrument=instrument, client_order_id=taken)
    free = occurrence_client_order_id(schedule.pk + 2, datetime.date(2026, 12, 7))

    answers = [_post_order(as_trader, account, cid) for cid in (taken, free)]

    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json() == answers[1].json()
    assert not Order.objects.filter(client_order_id=free).exists()


def test_a_random_id_held_on_an_unseen_account_answers_as_one_held_on_a_seen_account(
    as_trader, trader, account, other_account, instrument
):
    from accounts.models import AccountMembership, BrokerAccount

    seen = BrokerAccount.objects.create(code="DU0000003", name="Paper three")
    AccountMembership.objects.create(user=trader, account=seen)
    unseen_id, seen_id = uuid.uuid4(), uuid.uuid4()
    OrderFactory(account=other_account, instrument=instrument, client_order_id=unseen_id)
    OrderFactory(account=seen, instrument=instrument, client_order_id=seen_id)

    unseen, visible = _post_order(as_trader, account, unseen_id), _post_order(as_trader, account, seen_id)

    assert (unseen.status_code, visible.status_code) == (409, 409)
    assert unseen.json() == visible.json()
    assert other_account.code not in unseen.content.decode()


def test_a_form_encoded_body_is_refused_as_unsupported(as_trader):
    schedule = ScheduledOrder.objects.get()
    url = reverse("api-v1:scheduled-order-detail", kwargs={"pk": schedule.pk})

    form = as_trader.patch(url, {"name": "", "valid_until": ""}, format="multipart")
    json = as_trader.patch(url, {"name": ""}, format="json")

    assert (form.status_code, form.json()["code"]) == (415, "unsupported_media_type")
    assert json.status_code == 400
    schedule.refresh_from_db()
    assert schedule.name == "open"


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("order-cancel", {"reason": 0}),
        ("order-list", {"account": 1, "symbol": "AAPL", "side": "BUY", "quantity": "1", "order_type": "MKT"}),
    ],
)
def test_a_number_where_the_schema_says_string_is_refused(as_trader, name, body):
    order = Order.objects.get()
    kwargs = {"client_order_id": order.client_order_id} if name == "order-cancel" else {}

    response = as_trader.post(reverse(f"api-v1:{name}", kwargs=kwargs), body, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))

    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {"reason" if name == "order-cancel" else "account"}
