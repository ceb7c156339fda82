"""The orders API: entry, detail with events and fills, cancel, modify, filters and account scoping."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog, OutboxMessage, Role
from accounts.tests.factories import UserFactory
from orders.models import Order, OrderStatus
from orders.tests.factories import FillFactory, InstrumentFactory, OrderFactory
from orders.tests.helpers import ORDERS, order_body, post_order
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = pytest.mark.django_db

# "Today" is the desk's local date, read from the clock at each call: tests about it run at a
# pinned midday, so that no run straddles New York's midnight between writing and reading.
DESK_MIDDAY = "2026-11-18 12:00:00-05:00"


def detail_url(order) -> str:
    return reverse("api-v1:order-detail", kwargs={"client_order_id": order.client_order_id})


def test_a_trader_enters_an_order_and_gets_it_back_with_its_location(as_trader, trader, account):
    response = post_order(as_trader, order_body())

    assert response.status_code == 201, response.content
    body = response.json()
    order = Order.objects.get(client_order_id=body["client_order_id"])
    assert response["Location"] == detail_url(order)
    assert (order.account, order.created_by, order.source, order.status) == (account, trader, "api", OrderStatus.NEW)
    assert body["quantity"] == "10.0000" and body["symbol"] == "AAPL" and body["status"] == "NEW"
    assert OutboxMessage.objects.filter(type="order.place", data__client_order_id=str(order.client_order_id)).exists()


def test_an_api_order_is_audited_as_its_user_via_the_api(as_trader, trader):
    response = post_order(as_trader, order_body(), key="audit-1")

    row = AuditLog.objects.get(action="order.submit", object_id=str(Order.objects.get().pk))
    assert (row.actor, row.via) == (trader, "api")
    assert row.request_id == response["X-Request-ID"]


def test_extra_fields_such_as_status_are_ignored_never_applied(as_trader):
    response = post_order(as_trader, order_body(status="FILLED", filled_quantity="10", created_by=1, source="admin"))

    assert response.status_code == 201
    order = Order.objects.get()
    assert (order.status, order.filled_quantity, order.source) == (OrderStatus.NEW, Decimal("0"), "api")


def test_a_risk_refusal_is_a_problem_with_the_domain_code(as_trader):
    response = post_order(as_trader, order_body(quantity="100000"))

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "risk.max_quantity"
    assert problem["type"] == "urn:tradeconsole:error:risk.max_quantity"
    assert "Traceback" not in response.content.decode()
    assert not Order.objects.exists()


def test_an_order_on_a_halted_account_is_refused_as_a_conflict(as_trader, account):
    account.trading_enabled = False
    account.save(update_fields=["trading_enabled"])

    response = post_order(as_trader, order_body())

    assert response.status_code == 409
    assert response.json()["code"] == "account.halted"


def test_an_order_on_another_desks_account_is_refused_like_an_unknown_account(as_trader, other_account):
    for code in (other_account.code, "DU9999999"):
        response = post_order(as_trader, order_body(account=code))
        assert response.status_code == 400
        assert response.json()["errors"] == {"account": [f"No account {code!r} among yours."]}
    assert not Order.objects.exists()


def test_the_list_shows_only_orders_of_the_callers_accounts(as_trader, account, other_account, instrument):
    mine = OrderFactory(account=account, instrument=instrument)
    OrderFactory(account=other_account, instrument=instrument)

    response = as_trader.get(ORDERS)

    assert [row["client_order_id"] for row in response.json()["results"]] == [str(mine.client_order_id)]


def test_filtering_by_another_accounts_code_shows_nothing(as_trader, other_account, instrument):
    OrderFactory(account=other_account, instrument=instrument)

    response = as_trader.get(ORDERS, {"account": other_account.code})

    assert response.status_code == 200
    assert response.json()["results"] == []


@time_machine.travel(DESK_MIDDAY, tick=True)
@pytest.mark.parametrize("param", ["account", "strategy"])
def test_a_filter_of_non_ascii_digits_matches_nothing_rather_than_failing(as_trader, account, instrument, param):
    # "²" is a digit to str.isdigit, not to int(): a 500 before; it is read as a code or a name.
    OrderFactory(account=account, instrument=instrument)
    response = as_trader.get(ORDERS, {param: "²"})
    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


def test_the_list_filters_by_status_account_strategy_and_date(as_trader, account, instrument):
    strategy = StrategyFactory(name="momentum")
    session = TradingSessionFactory(strategy=strategy, account=account, status="running")
    filled = OrderFactory(account=account, instrument=instrument, status=OrderStatus.FILLED, trading_session=session)
    working = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    old = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    def ids(params) -> set[str]:
        response = as_trader.get(ORDERS, params)
        assert response.status_code == 200, response.content
        return {row["client_order_id"] for row in response.json()["results"]}

    assert ids({"status": "FILLED"}) == {str(filled.client_order_id)}
    assert ids({"status": ["FILLED", "SUBMITTED"], "account": account.code}) == {
        str(o.client_order_id) for o in (filled, working, old)
    }
    assert ids({"strategy": "momentum"}) == {str(filled.client_order_id)}
    today = timezone.localdate()
    assert ids({"date_from": today.isoformat()}) == {str(filled.client_order_id), str(working.client_order_id)}
    assert ids({"date_to": (today - timedelta(days=5)).isoformat()}) == {str(old.client_order_id)}


def test_a_malformed_filter_is_a_field_error_not_a_server_error(as_trader):
    response = as_trader.get(ORDERS, {"status": "SOMEDAY", "date_from": "yesterday"})

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"status", "date_from"}


def test_the_detail_carries_events_and_fills(as_trader, account, instrument):
    response = post_order(as_trader, order_body())
    order = Order.objects.get(client_order_id=response.json()["client_order_id"])
    FillFactory(order=order, account=account, instrument=instrument, quantity=Decimal("4"), price=Decimal("99.5"))

    detail = as_trader.get(detail_url(order)).json()

    assert [event["kind"] for event in detail["events"]] == ["submitted"]
    assert [(fill["quantity"], fill["price"]) for fill in detail["fills"]] == [("4.0000", "99.500000")]


def test_another_accounts_order_is_not_found_for_detail_modify_and_cancel(as_trader, other_account, instrument):
    theirs = OrderFactory(account=other_account, instrument=instrument, status=OrderStatus.SUBMITTED)
    cancel = reverse("api-v1:order-cancel", kwargs={"client_order_id": theirs.client_order_id})

    for response in (
        as_trader.get(detail_url(theirs)),
        as_trader.patch(detail_url(theirs), {"quantity": "1"}, format="json"),
        as_trader.post(cancel, {}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "not_found" or response.json()["code"] == "order.not_found"
    theirs.refresh_from_db()
    assert (theirs.status, theirs.quantity) == (OrderStatus.SUBMITTED, Decimal("100"))


def test_a_working_order_is_cancelled_through_a_request_to_the_broker(as_trader, trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    url = reverse("api-v1:order-cancel", kwargs={"client_order_id": order.client_order_id})

    response = as_trader.post(url, {"reason": "changed my mind"}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == OrderStatus.CANCEL_REQUESTED
    assert OutboxMessage.objects.filter(type="order.cancel").count() == 1
    assert AuditLog.objects.filter(action="order.cancel", actor=trader, via="api").exists()


def test_a_filled_order_cannot_be_cancelled(as_trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.FILLED)
    url = reverse("api-v1:order-cancel", kwargs={"client_order_id": order.client_order_id})

    response = as_trader.post(url, {}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "order.not_cancellable"


def test_modifying_a_working_order_changes_its_price_and_asks_the_broker(as_trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)

    response = as_trader.patch(detail_url(order), {"limit_price": "101.00"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["limit_price"] == "101.000000"
    assert OutboxMessage.objects.filter(type="order.modify").count() == 1


def test_an_empty_modification_is_refused_with_its_code(as_trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)

    response = as_trader.patch(detail_url(order), {}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "order.modify_empty"


def test_a_viewer_sees_orders_but_cannot_enter_one(api_client, viewer, account, instrument):
    OrderFactory(account=account, instrument=instrument)
    api_client.force_authenticate(viewer)

    assert len(api_client.get(ORDERS).json()["results"]) == 1
    response = post_order(api_client, order_body())
    assert response.status_code == 403
    assert Order.objects.count() == 1


def test_order_entry_is_throttled_per_user(as_trader, trader, settings, account, fresh_throttle_counts):
    # An hour-long window, so the four requests cannot straddle a window boundary.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"orders": "3/hour"}}
    account.risk_limit.orders_per_minute = 1000
    account.risk_limit.save(update_fields=["orders_per_minute"])
    other = UserFactory(username="trader2", roles=[Role.TRADER], accounts=[account])

    # Distinct quantities: the same order again would be a possible duplicate (409).
    responses = [post_order(as_trader, order_body(quantity=str(10 + n))) for n in range(4)]
    as_trader.force_authenticate(other)
    other_code = post_order(as_trader, order_body()).status_code

    assert [response.status_code for response in responses] == [201, 201, 201, 429]
    refused = responses[-1]
    assert refused.json()["code"] == "throttled"
    assert 0 < int(refused["Retry-After"]) <= 3600
    assert other_code == 201
    assert Order.objects.count() == 4


def test_an_order_for_an_unknown_symbol_names_the_instrument(as_trader):
    response = post_order(as_trader, order_body(symbol="NOPE"))

    assert response.status_code == 400
    assert response.json()["code"] == "instrument.unknown"


def test_a_child_order_names_its_parent_by_client_order_id(as_trader, account, instrument):
    parent = OrderFactory(account=account, instrument=instrument, status=OrderStatus.SUBMITTED)
    InstrumentFactory(symbol="MSFT")

    response = post_order(as_trader, order_body(side="SELL", parent=str(parent.client_order_id), limit_price="101.00"))

    assert response.status_code == 201, response.content
    assert response.json()["parent"] == str(parent.client_order_id)


def test_fills_positions_and_pnl_show_only_the_callers_accounts(as_trader, account, other_account, instrument):
    from orders.models import PnLPoint
    from orders.tests.factories import PositionFactory

    FillFactory(account=account, instrument=instrument)
    FillFactory(account=other_account, instrument=instrument)
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("5"))
    PositionFactory(account=other_account, instrument=instrument, quantity=Decimal("7"))
    for each in (account, other_account):
        PnLPoint.objects.create(account=each, at=timezone.now(), realized_pnl=1, unrealized_pnl=2)

    for name in ("fill-list", "position-list", "pnl-history"):
        url = reverse(f"api-v1:{name}")
        assert {row["account"] for row in as_trader.get(url).json()["results"]} == {account.code}, name
        assert as_trader.get(url, {"account": other_account.code}).json()["results"] == [], name


def test_an_unexpected_error_is_a_generic_problem_without_a_stack_trace(as_trader, monkeypatch, caplog):
    from orders import selectors

    def broken(**kwargs):
        raise RuntimeError("secret internals: password=hunter2")

    monkeypatch.setattr(selectors, "order_list", broken)

    response = as_trader.get(ORDERS)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "server_error"
    text = response.content.decode()
    assert "hunter2" not in text and "Traceback" not in text and "RuntimeError" not in text
    # Logged once, with the traceback (not a second time by django.request without it).
    errors = [record for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info is not None
