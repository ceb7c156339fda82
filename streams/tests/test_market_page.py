"""The Market page (chart and order ticket) and Market watch's watchlist: who sees what, and the ticket
entering orders through the admin's form and ``order_submit`` with its refusals and the duplicate guard.

The duplicate guard compares entry times: every entry here happens at a pinned instant (time-machine).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.models import AuditLog
from marketdata.models import WatchlistEntry
from orders.models import Order, OrderEvent, OrderSource, OrderStatus
from orders.tests.factories import InstrumentFactory
from orders.tests.helpers import entry_form

pytestmark = pytest.mark.django_db

CHART = "/live/market/chart/"
TICKET = "/live/market/chart/ticket"
# A Tuesday, mid-session in New York; nothing here depends on the session, only on a fixed clock.
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def _assets(body: str) -> list[str]:
    return re.findall(r'<script[^>]+src="([^"]+)"', body) + re.findall(r'<link[^>]+href="([^"]+)"', body)


def test_a_trader_sees_the_chart_of_the_symbol_and_a_ticket_for_it(client, trader, instrument, redis_client):
    client.force_login(trader)
    response = client.get(CHART, {"symbol": "aapl", "resolution": "5"})
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="market-chart"' in body and 'data-symbol="AAPL"' in body and 'data-resolution="5"' in body
    assert 'id="ticket"' in body and f'name="instrument" value="{instrument.pk}"' in body
    assert "lightweight-charts.standalone.production.js" in body and "Times in America/New_York" in body


def test_a_viewer_sees_the_chart_but_no_ticket_and_a_posted_ticket_is_refused(
    client, viewer, account, instrument, redis_client
):
    client.force_login(viewer)
    body = client.get(CHART, {"symbol": "AAPL"}).content.decode()
    assert 'id="market-chart"' in body and 'id="ticket"' not in body
    response = client.post(TICKET, entry_form(account, instrument))
    assert response.status_code == 403
    assert not Order.objects.exists()


def test_the_market_page_asks_an_anonymous_visitor_to_log_in(client):
    for path in (CHART, "/live/market/"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert client.post(TICKET, {}).status_code == 302
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"symbol": "NOPE"}, "marketdata.unknown_symbol"),
        ({"symbol": "AAPL", "resolution": "7"}, "marketdata.bad_resolution"),
    ],
)
def test_an_unknown_symbol_or_resolution_is_answered_400_with_its_code(
    client, trader, instrument, redis_client, query, code
):
    client.force_login(trader)
    response = client.get(CHART, query)
    assert response.status_code == 400
    body = response.content.decode()
    assert f"({code})" in body and 'id="market-problem"' in body and 'id="ticket"' not in body


def test_the_ticket_enters_the_order_through_order_submit_and_offers_a_freshentry_form(
    client, trader, account, instrument, redis_client
):
    client.force_login(trader)
    posted = entry_form(account, instrument)
    with time_machine.travel(T0, tick=False):
        response = client.post(TICKET, posted)
    assert response.status_code == 200
    order = Order.objects.get()
    assert order.client_order_id == uuid.UUID(posted["client_order_id"])
    assert (order.created_by, order.source, order.status) == (trader, OrderSource.ADMIN, OrderStatus.NEW)
    assert OrderEvent.objects.filter(order=order).exists()
    assert AuditLog.objects.filter(action="order.submit", actor=trader, via="market").exists()
    body = response.content.decode()
    assert 'id="ticket-entered"' in body and str(order.client_order_id) in body
    # The next ticket keeps the person's choices under a new client order id.
    fresh = re.search(r'name="client_order_id" value="([^"]+)"', body).group(1)
    assert fresh != posted["client_order_id"] and 'name="limit_price" value="100.00"' in body


def test_the_same_ticket_posted_twice_enters_one_order(client, trader, account, instrument, redis_client):
    client.force_login(trader)
    posted = entry_form(account, instrument)
    with time_machine.travel(T0, tick=False):
        client.post(TICKET, posted)
        again = client.post(TICKET, posted).content.decode()
    assert Order.objects.count() == 1
    assert "This ticket was already sent" in again


def test_a_refusal_is_shown_on_its_field_with_its_stable_code_and_enters_nothing(
    client, trader, account, instrument, redis_client
):
    client.force_login(trader)
    with time_machine.travel(T0, tick=False):
        response = client.post(TICKET, entry_form(account, instrument, limit_price="100.005"))
    body = response.content.decode()
    assert response.status_code == 200 and not Order.objects.exists()
    limit_row = re.search(r'<div class="ticket-row ticket-limit_price errors".*?</div>', body, re.S).group(0)
    assert "(order.price_off_tick)" in limit_row


def test_a_second_identical_order_asks_for_confirmation_and_confirming_places_it(
    client, trader, account, instrument, redis_client
):
    client.force_login(trader)
    with time_machine.travel(T0, tick=False):
        client.post(TICKET, entry_form(account, instrument))
    [first] = Order.objects.all()
    second = entry_form(account, instrument)
    with time_machine.travel(T0 + timedelta(seconds=20), tick=False):
        asked = client.post(TICKET, second).content.decode()
    assert 'id="duplicate-confirmation"' in asked and str(first.client_order_id) in asked and "20 s ago" in asked
    assert Order.objects.count() == 1
    assert AuditLog.objects.filter(action="order.duplicate_refused").exists()
    with time_machine.travel(T0 + timedelta(seconds=25), tick=False):
        confirmed = client.post(TICKET, {**second, "confirm_duplicate": str(first.client_order_id)})
    assert 'id="ticket-entered"' in confirmed.content.decode()
    assert Order.objects.count() == 2
    assert AuditLog.objects.filter(action="order.duplicate_confirmed").exists()


def test_market_watch_lists_the_users_watchlist_with_live_quotes_and_chart_links(
    client, trader, viewer, account, redis_client
):
    watched = InstrumentFactory(symbol="MSFT", con_id=272093)
    WatchlistEntry.objects.create(user=trader, instrument=watched)
    client.force_login(trader)
    body = client.get("/live/market/").content.decode()
    assert 'id="quote-MSFT"' in body and 'data-symbol="MSFT"' in body and f"{CHART}?symbol=MSFT" in body
    # Another person's watchlist is theirs: the viewer's Market watch does not show MSFT.
    client.force_login(viewer)
    assert 'id="quote-MSFT"' not in client.get("/live/market/").content.decode()


@pytest.mark.parametrize(
    "path", ["/live/", "/live/orders/", "/live/positions/", "/live/market/", CHART, "/live/system/"]
)
def test_every_live_page_loads_its_scripts_and_styles_from_the_desk_only(
    client, trader, instrument, redis_client, path
):
    client.force_login(trader)
    body = client.get(path, {"symbol": "AAPL"}).content.decode()
    assets = _assets(body)
    assert any("vendor/htmx" in a for a in assets)
    assert all(a.startswith("/static/") for a in assets), [a for a in assets if not a.startswith("/static/")]


def test_a_malformed_ticket_is_answered_on_its_fields_and_writes_nothing(
    client, trader, account, instrument, redis_client
):
    client.force_login(trader)
    response = client.post(TICKET, {**entry_form(account, instrument, quantity="ten", side="HOLD"), "instrument": "x"})
    body = response.content.decode()
    assert response.status_code == 200 and 'id="ticket"' in body
    assert 'ticket-quantity errors"' in body and "Select a valid choice" in body
    assert not Order.objects.exists() and not AuditLog.objects.filter(action="order.submit").exists()
