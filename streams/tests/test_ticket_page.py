"""The ticket rows open (streams:row-ticket): who may open it, its prefill, its refusals with their codes, the
row buttons that open it (rendered by the views and by the live relay), and its post through the Market
page's one entry path.

The duplicate guard compares entry times: the entry here happens at a pinned instant (time-machine).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from accounts.models import AuditLog
from orders.models import Order
from orders.tests.factories import InstrumentFactory, PositionFactory
from orders.tests.helpers import entry_form
from streams import rows
from streams.row_frames import row_json
from streams.socket_access import socket_access_load

pytestmark = pytest.mark.django_db

TICKET = "/live/ticket/"
POST = "/live/market/chart/ticket"
T0 = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def _selected(body: str, name: str) -> str:
    select = re.search(rf'<select name="{name}"[^>]*>.*?</select>', body, re.S).group(0)
    return re.search(r'<option value="([^"]*)"[^>]*selected', select).group(1)


def test_a_trader_gets_the_ticket_prefilled_from_the_row(client, trader, account, instrument, redis_client):
    client.force_login(trader)
    response = client.get(
        TICKET, {"symbol": "aapl", "side": "SELL", "quantity": "-25", "account": account.pk, "order_type": "MKT"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="row-ticket"' in body and 'id="ticket"' not in body
    assert 'name="ticket_prefix" value="row-"' in body and 'id="row-id_quantity"' in body
    assert f'name="instrument" value="{instrument.pk}"' in body
    assert re.search(r'id="row-ticket-side-sell" checked', body)
    assert 'name="quantity" value="25"' in body
    assert _selected(body, "account") == str(account.pk) and _selected(body, "order_type") == "MKT"
    assert 'class="ticket-quote"' in body and 'id="row-ticket-notional"' in body


def test_without_a_prefill_the_ticket_is_a_limit_buy(client, trader, instrument, redis_client):
    client.force_login(trader)
    body = client.get(TICKET, {"symbol": "AAPL", "side": "SIDEWAYS", "order_type": "NOPE"}).content.decode()
    assert re.search(r'id="row-ticket-side-buy" checked', body)
    assert _selected(body, "order_type") == "LMT" and 'name="quantity" value=' not in body


@pytest.mark.parametrize(
    ("who", "query", "status", "code"),
    [
        ("viewer", {"symbol": "AAPL"}, 403, "permission.denied"),
        ("trader", {"symbol": "ZZZQ"}, 404, "marketdata.unknown_symbol"),
        ("trader", {"symbol": ""}, 404, "marketdata.unknown_symbol"),
        ("trader", {"symbol": "AAPL", "account": "other"}, 403, "account.not_member"),
        # "²" is a digit to str.isdigit, not to int(): a 500 before.
        ("trader", {"symbol": "AAPL", "account": "²"}, 403, "account.not_member"),
        ("trader", {"symbol": "AAPL", "quantity": "lots"}, 400, "order.invalid"),
        # Past Decimal's exponent limit: normalize() raised Overflow (a 500) before.
        ("trader", {"symbol": "AAPL", "quantity": "1e9999999"}, 400, "order.invalid"),
        ("trader", {"symbol": "AAPL", "quantity": "1e400"}, 400, "order.invalid"),
    ],
)
def test_a_ticket_that_cannot_be_opened_is_refused_with_its_code(
    client, request, other_account, instrument, redis_client, who, query, status, code
):
    client.force_login(request.getfixturevalue(who))
    if query.get("account") == "other":
        query = {**query, "account": other_account.pk}
    response = client.get(TICKET, query)
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_an_anonymous_visitor_is_asked_to_log_in(client, instrument):
    response = client.get(TICKET, {"symbol": "AAPL"})
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_row_ticket_posts_through_the_market_tickets_entry_and_answers_in_its_own_ids(
    client, trader, account, instrument, redis_client
):
    client.force_login(trader)
    posted = entry_form(account, instrument, side="SELL", order_type="MKT", limit_price="", ticket_prefix="row-")
    with time_machine.travel(T0, tick=False):
        response = client.post(POST, posted)
    order = Order.objects.get()
    assert (order.side, order.order_type, order.quantity) == ("SELL", "MKT", Decimal("10"))
    assert AuditLog.objects.filter(action="order.submit", actor=trader, via="market").exists()
    body = response.content.decode()
    assert 'id="row-ticket-entered"' in body and 'data-order-type="MKT"' in body
    assert 'id="row-ticket"' in body and 'id="ticket"' not in body


def test_a_refused_row_ticket_comes_back_in_its_own_ids_with_the_code_and_enters_nothing(
    client, trader, account, instrument, redis_client
):
    client.force_login(trader)
    response = client.post(POST, entry_form(account, instrument, limit_price="100.005", ticket_prefix="row-"))
    body = response.content.decode()
    assert "(order.price_off_tick)" in body and 'id="row-id_limit_price"' in body
    assert 'id="row-ticket"' in body and "data-fresh" not in body
    assert not Order.objects.exists()


def test_the_rows_offer_buy_and_sell_to_a_trader_only_on_the_page_and_from_the_relay(
    client, trader, viewer, account, instrument, redis_client
):
    position = PositionFactory(account=account, instrument=instrument, quantity=Decimal("-25"))
    client.force_login(trader)
    page = client.get("/live/positions/").content.decode()
    assert f'data-side="SELL" data-symbol="AAPL" data-account="{account.pk}" data-quantity="25"' in page
    assert f'data-side="BUY" data-symbol="AAPL" data-account="{account.pk}" data-quantity="25"' in page
    assert 'id="row-ticket-dialog"' in page and "marketdata/ticket.js" in page

    row = rows.position_row(position)
    relayed = row_json(row, _flags(trader), "upsert", ("e", "g", 1), None)
    assert "row-trade-sell" in relayed and 'data-quantity=\\"25\\"' in relayed
    assert "row-trade" not in row_json(row, _flags(viewer), "upsert", ("e", "g", 1), None)

    client.force_login(viewer)
    page = client.get("/live/positions/").content.decode()
    assert "row-trade" not in page and 'id="row-ticket-dialog"' not in page
    # The keys' help is for everyone.
    assert 'id="row-ticket-help"' in page


def test_a_quote_row_offers_its_symbol_only(client, trader, instrument, redis_client):
    InstrumentFactory(symbol="MSFT", con_id=272093)
    row = rows.quote_row("MSFT", {"bid": "300.00", "ask": "300.10"})
    html = row_json(row, _flags(trader), "upsert", ("e", "g", 2), None)
    assert 'data-side=\\"BUY\\" data-symbol=\\"MSFT\\" title' in html


def _flags(user) -> dict:
    return {k: v for k, v in socket_access_load(user).items() if k != "accounts"}
