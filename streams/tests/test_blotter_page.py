"""The blotter's search, sort, empty states and export link (server side), and the live rows' search rule."""

from __future__ import annotations

import csv
import io
import re
import uuid
from decimal import Decimal

import pytest

from orders.models import Order, OrderStatus
from orders.search import order_search, row_matches
from orders.tests.factories import InstrumentFactory, OrderFactory
from strategies.tests.factories import TradingSessionFactory
from streams import rows
from streams.row_frames import row_op

pytestmark = pytest.mark.django_db


def _row_ids(body: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="order-(\d+)"', body)]


@pytest.fixture
def book(account, instrument):
    """Four orders on the account: AAPL and MSFT, a strategy's, a rejected one with its reason."""
    msft = InstrumentFactory(symbol="MSFT")
    session = TradingSessionFactory(account=account, strategy__name="Mean reversion")
    return {
        "aapl": OrderFactory(account=account, instrument=instrument, quantity=Decimal("30"), side="BUY"),
        "msft": OrderFactory(account=account, instrument=msft, quantity=Decimal("5"), side="SELL"),
        "strategy": OrderFactory(account=account, instrument=msft, quantity=Decimal("300"), trading_session=session),
        "rejected": OrderFactory(
            account=account,
            instrument=instrument,
            quantity=Decimal("12"),
            status=OrderStatus.REJECTED,
            reject_reason="Order rejected: insufficient buying power",
        ),
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("msft", {"msft", "strategy"}),
        ("reversion", {"strategy"}),
        ("BUYING power", {"rejected"}),
        ("msft mean", {"strategy"}),
        ("nothing-like-it", set()),
    ],
)
def test_the_search_narrows_the_blotter_to_the_orders_matching_every_word(
    client, trader, book, redis_client, q, expected
):
    client.force_login(trader)
    body = client.get("/live/orders/", {"q": q}).content.decode()
    assert set(_row_ids(body)) == {book[name].pk for name in expected}


def test_the_search_finds_an_order_by_its_client_order_id_prefix_and_its_account_code(client, trader, book, account):
    wanted = book["msft"]
    Order.objects.filter(pk=wanted.pk).update(client_order_id=uuid.UUID("abcdef12-0000-4000-8000-000000000000"))
    client.force_login(trader)
    assert _row_ids(client.get("/live/orders/", {"q": "ABCDEF1"}).content.decode()) == [wanted.pk]
    by_account = client.get("/live/orders/", {"q": account.code[:4].lower()}).content.decode()
    assert set(_row_ids(by_account)) == {o.pk for o in book.values()}


def test_a_search_word_with_like_wildcards_matches_them_literally(trader, book):
    from orders.selectors import order_list

    assert not order_list(user=trader, filters={"search": "%"}).exists()
    assert not order_list(user=trader, filters={"search": "_"}).exists()


@pytest.mark.parametrize("q", ["msft", "reversion", "power", "abcdef", "du", "msft mean", "ord rej", "zzz"])
def test_a_live_row_matches_the_search_exactly_when_the_database_does(book, account, q):
    Order.objects.filter(pk=book["aapl"].pk).update(client_order_id=uuid.UUID("abcdef99-0000-4000-8000-000000000000"))
    found = set(order_search(Order.objects.all(), q).values_list("pk", flat=True))
    for row in rows.order_rows(pks=[o.pk for o in book.values()]):
        ctx = row["ctx"]
        fields = {k: ctx[k] for k in ("symbol", "account", "client_order_id", "strategy", "reject_reason")}
        assert row_matches(q, **fields) is (ctx["pk"] in found), (q, ctx["symbol"])
        assert row_op(row, {"q": q}) == ("upsert" if ctx["pk"] in found else "remove")


def test_sorting_by_a_header_orders_the_rows_and_its_link_reverses_it(client, trader, book, redis_client):
    client.force_login(trader)
    body = client.get("/live/orders/", {"sort": "qty"}).content.decode()
    by_qty = sorted(book.values(), key=lambda o: o.quantity)
    assert _row_ids(body) == [o.pk for o in by_qty]
    header = re.search(r'<th class="col-qty num" scope="col" aria-sort="(\w+)"><a href="([^"]+)"', body)
    assert header.group(1) == "ascending" and "sort=-qty" in header.group(2)

    body = client.get("/live/orders/", {"sort": "-qty"}).content.decode()
    assert _row_ids(body) == [o.pk for o in reversed(by_qty)]
    assert 'aria-sort="descending"' in body


def test_the_default_sort_is_newest_first_and_an_unknown_sort_falls_back_to_it(client, trader, book, redis_client):
    client.force_login(trader)
    newest_first = [o.pk for o in sorted(book.values(), key=lambda o: (o.created_at, o.pk), reverse=True)]
    assert _row_ids(client.get("/live/orders/").content.decode()) == newest_first
    assert _row_ids(client.get("/live/orders/", {"sort": "password"}).content.decode()) == newest_first


def test_sorting_by_symbol_keeps_the_newest_first_among_equals(client, trader, book, redis_client):
    client.force_login(trader)
    body = client.get("/live/orders/", {"sort": "symbol"}).content.decode()
    assert _row_ids(body) == [book["rejected"].pk, book["aapl"].pk, book["strategy"].pk, book["msft"].pk]


def test_an_empty_blotter_says_no_orders_yet(client, trader, redis_client):
    client.force_login(trader)
    body = client.get("/live/orders/").content.decode()
    assert "No orders yet." in body and "Clear the filters" not in body


def test_a_search_matching_nothing_says_so_and_links_to_the_unfiltered_blotter(client, trader, book, redis_client):
    client.force_login(trader)
    body = client.get("/live/orders/", {"q": "zzz", "status": "FILLED", "sort": "symbol"}).content.decode()
    assert "No orders match “zzz”, status Filled." in body
    assert '<a href="/live/orders/?sort=symbol">Clear the filters</a>' in body


@pytest.mark.parametrize("param", ["account", "strategy"])
def test_a_filter_of_a_digit_int_cannot_read_is_ignored(client, trader, book, redis_client, param):
    # "²" is a digit to str.isdigit, not to int(): a 500 before.
    client.force_login(trader)
    response = client.get("/live/orders/", {param: "²"})
    assert response.status_code == 200
    assert len(_row_ids(response.content.decode())) == len(book)


def test_the_empty_page_names_no_strategy_of_another_account(client, trader, book, other_account, redis_client):
    # ?strategy= is any id a person types: its name is the desk's only where the user's accounts run it.
    secret = TradingSessionFactory(account=other_account, strategy__name="Secret alpha").strategy
    secret.accounts.set([other_account])
    client.force_login(trader)
    body = client.get("/live/orders/", {"strategy": secret.pk}).content.decode()
    assert "Secret alpha" not in body
    assert f"No orders match strategy {secret.pk}." in body


def test_the_export_link_carries_the_search_and_the_export_matches_it(client, trader, book, redis_client):
    client.force_login(trader)
    body = client.get("/live/orders/", {"q": "msft", "sort": "qty"}).content.decode()
    link = re.search(r'<a href="([^"]+)" class="button csv-export-link"', body).group(1).replace("&amp;", "&")
    assert link == "/api/v1/orders/export.csv?q=msft"
    response = client.get(link)
    exported = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert sorted(row["Client order id"] for row in exported) == sorted(
        str(book[name].client_order_id) for name in ("msft", "strategy")
    )


def test_the_live_socket_of_a_searched_blotter_carries_the_search(client, trader, book, redis_client):
    client.force_login(trader)
    body = client.get("/live/orders/", {"q": "msft  mean"}).content.decode()
    assert 'data-ws="/ws/live/?page=blotter&amp;q=msft+mean"' in body
