"""Positions at a moving price: ticks move the instrument's price, and the positions page gets the new valuation."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from execution_worker import messages as m
from orders.models import Instrument
from orders.tests.factories import PositionFactory
from streams import keys, live
from streams.market import MarketFeed
from streams.tests.harness import commit
from tradeconsole.asgi import application

pytestmark = pytest.mark.django_db

ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")


def _tick(client, symbol: str, **quote) -> None:
    client.xadd(keys.market_data_stream(symbol), m.encode(m.MarketData(symbol=symbol, **quote)))


@pytest.fixture
def position(account, instrument):
    return PositionFactory(account=account, instrument=instrument, quantity=Decimal("10"), average_cost=Decimal("100"))


def test_the_market_feed_moves_the_instruments_price_to_the_newest_tick(redis_client, instrument, settings):
    settings.PRICE_RECORD_SECONDS = 0
    _tick(redis_client, "AAPL", bid=Decimal("101"), ask=Decimal("101.2"))
    feed = MarketFeed(live.Fanout())
    try:
        feed.step(block_ms=10)  # follows the stream from its newest entry, whose mark it stores
        instrument.refresh_from_db()
        assert instrument.last_price == Decimal("101.1")
        _tick(redis_client, "AAPL", bid=Decimal("104"), ask=Decimal("104.2"), last=Decimal("104.1"))
        _tick(redis_client, "AAPL", bid=Decimal("104.5"), ask=Decimal("104.7"), last=Decimal("104.6"))
        feed.step(block_ms=500)
    finally:
        feed.fanout.close()
    instrument.refresh_from_db()
    assert instrument.last_price == Decimal("104.6")
    assert abs(instrument.last_price_at.timestamp() - time.time()) < 30


def test_the_market_feed_stores_a_symbols_price_at_most_once_per_interval_and_keeps_the_latest(
    redis_client, instrument, settings
):
    settings.PRICE_RECORD_SECONDS = 3600
    feed = MarketFeed(live.Fanout())
    try:
        _tick(redis_client, "AAPL", last=Decimal("101"))
        feed.step(block_ms=10)
        _tick(redis_client, "AAPL", last=Decimal("102"))
        feed.step(block_ms=500)
        instrument.refresh_from_db()
        assert instrument.last_price == Decimal("101")  # within the interval: kept, not stored
        feed._price_due["AAPL"] = 0.0  # the interval has passed
        assert feed.record_prices() == 1
    finally:
        feed.fanout.close()
    instrument.refresh_from_db()
    assert instrument.last_price == Decimal("102")


def test_a_tick_reaches_the_positions_page_as_the_new_valuation_of_the_position(
    redis_client, trader, account, instrument, position, settings
):
    settings.PRICE_RECORD_SECONDS = 0
    client = Client()
    client.force_login(trader)
    cookie = (
        b"cookie",
        f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode(),
    )
    _tick(redis_client, "AAPL", bid=Decimal("99.9"), ask=Decimal("100.1"), last=Decimal("100"))
    fanout = live.Fanout()
    feed = MarketFeed(fanout)

    def tick_then_steps() -> None:
        feed.step(block_ms=10)  # follows the stream from the quote the page started with
        _tick(redis_client, "AAPL", bid=Decimal("103.9"), ask=Decimal("104.1"), last=Decimal("104"))
        feed.step(block_ms=1000)
        assert Instrument.objects.get(pk=instrument.pk).last_price == Decimal("104")
        commit()  # the price's announcement, held back by the test's transaction

    async def scenario() -> dict:
        communicator = WebsocketCommunicator(application, "/ws/live/?page=positions", headers=[HOST, ORIGIN, cookie])
        connected = await communicator.connect(timeout=5)
        assert connected[0], connected
        await communicator.send_json_to({"type": "hello", "epoch": live.epoch(), "cursor": {}})
        assert (await communicator.receive_json_from(timeout=5))["t"] == "ready"
        await sync_to_async(tick_then_steps)()
        while True:
            frame = await communicator.receive_json_from(timeout=10)
            found = [row for row in frame.get("rows", []) if row["id"] == f"position-{position.pk}"]
            if found:
                await communicator.disconnect()
                return found[0]

    try:
        row = async_to_sync(scenario)()
    finally:
        fanout.close()
    # The consumer's close released the test's connection: what follows reads no database.
    html = row["html"]
    assert '<td class="num unrealized">40.00</td>' in html  # (104 - 100) x 10
    assert '<td class="num market-value">1,040.00</td>' in html and "price-stale" not in html
    assert ">104" in html
