"""The market topics socket refuses what it cannot act on with a stable code, and keeps serving.

Every frame received here is checked against the AsyncAPI document; every bad frame sent is
checked *not* to be a client message of it.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from marketdata.bars import BarRecord
from marketdata.keys import MarketKeys
from marketdata.tests.topic_client import TopicClient
from marketdata.topics.consumer import CLOSE_SLOW
from orders.tests.factories import InstrumentFactory
from tradeconsole.asgi import application

pytestmark = pytest.mark.django_db

T0 = 1_796_000_040


def run(coroutine_function):
    return async_to_sync(coroutine_function)()


def cookie_for(user) -> bytes:
    web = Client()
    web.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={web.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


async def signed_in(cookie: bytes) -> TopicClient:
    client = TopicClient(
        WebsocketCommunicator(
            application,
            "/ws/market/",
            headers=[(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1"), (b"cookie", cookie)],
        )
    )
    connected, _ = await client.connect()
    assert connected
    return client


async def still_serving(client: TopicClient) -> None:
    await client.send({"type": "ping", "id": "alive"})
    assert (await client.next("pong"))["id"] == "alive"


def bar_update(close: str, *, symbol: str = "AAPL") -> dict:
    price = Decimal(close)
    record = BarRecord(symbol, "1", T0, Decimal("1"), max(price, Decimal("1")), Decimal("1"), price)
    return {"bar": record.encode()}


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "ws.bad_frame"),
        ("[1, 2]", "ws.bad_frame"),
        ('"text"', "ws.bad_frame"),
        ('{"id": "x"}', "ws.bad_frame"),
        ('{"type": 7}', "ws.bad_frame"),
        ('{"type": "orders.place", "id": "x"}', "ws.unknown_type"),
        ('{"type": "ping", "id": ""}', "ws.bad_frame"),
        ('{"type": "bars.subscribe", "data": {"symbol": "AAPL", "resolution": "1"}}', "ws.bad_frame"),
        ("[" * 2000 + "]" * 2000, "ws.bad_frame"),
        ("x" * 5000, "ws.frame_too_large"),
        ('{"type": "ping", "id": "' + "é" * 2100 + '"}', "ws.frame_too_large"),
    ],
)
def test_a_bad_frame_is_answered_with_an_error_and_the_socket_keeps_serving(redis_client, trader, frame, code):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        await client.send_bad(frame)
        answer = await client.next("error")
        assert answer["error"]["code"] == code
        await still_serving(client)
        await client.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (None, "ws.bad_frame"),
        ({"symbol": "AAPL", "resolution": "7"}, "marketdata.bad_resolution"),
        ({"symbol": "AAPL"}, "marketdata.bad_resolution"),
        ({"symbol": "AA PL$", "resolution": "1"}, "marketdata.bad_symbol"),
        ({"symbol": 42, "resolution": "1"}, "marketdata.bad_symbol"),
        ({"symbol": "NOPE", "resolution": "1"}, "marketdata.unknown_symbol"),
    ],
)
def test_a_bad_subscription_is_answered_in_its_response_with_a_stable_code(
    redis_client, trader, instrument, data, code
):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        frame = {"type": "bars.subscribe", "id": "r1", **({"data": data} if data is not None else {})}
        # An unknown symbol is well formed: the document allows it, the desk does not know it.
        send = client.send if code == "marketdata.unknown_symbol" else client.send_bad
        await send(frame if code == "marketdata.unknown_symbol" else json.dumps(frame))
        answer = await client.next("bars.subscribe.response")
        assert answer["id"] == "r1" and answer["error"]["code"] == code
        await still_serving(client)
        await client.disconnect()

    run(scenario)


def test_unsubscribing_from_a_topic_not_held_is_refused(redis_client, trader, instrument):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        answer = await client.request({"type": "quotes.unsubscribe", "id": "u", "data": {"symbol": "AAPL"}})
        assert answer["error"]["code"] == "ws.not_subscribed"
        await still_serving(client)
        await client.disconnect()

    run(scenario)


def test_a_binary_frame_that_is_not_json_is_a_bad_frame(redis_client, trader):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        await client.send_bad(data=b"\x00\xff\x01")
        assert (await client.next("error"))["error"]["code"] == "ws.bad_frame"
        await still_serving(client)
        await client.disconnect()

    run(scenario)


def test_subscriptions_past_the_limit_are_refused_and_the_held_ones_keep_serving(
    redis_client, trader, instrument, settings
):
    settings.MARKET_TOPICS_MAX_SUBSCRIPTIONS = 2

    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        await client.request({"type": "bars.subscribe", "id": "a", "data": {"symbol": "AAPL", "resolution": "1"}})
        await client.request({"type": "quotes.subscribe", "id": "b", "data": {"symbol": "AAPL"}})
        refused = await client.request(
            {"type": "bars.subscribe", "id": "c", "data": {"symbol": "AAPL", "resolution": "5"}}
        )
        assert refused["error"]["code"] == "ws.too_many_subscriptions"
        # Subscribing again to a topic held is a refresh, not one more.
        again = await client.request(
            {"type": "bars.subscribe", "id": "d", "data": {"symbol": "AAPL", "resolution": "1"}}
        )
        assert again["data"]["topic"] == "bars:AAPL:1"
        await client.request({"type": "quotes.unsubscribe", "id": "e", "data": {"symbol": "AAPL"}})
        room = await client.request(
            {"type": "bars.subscribe", "id": "f", "data": {"symbol": "AAPL", "resolution": "5"}}
        )
        assert room["data"]["topic"] == "bars:AAPL:5"
        redis_client.xadd(MarketKeys(settings.STREAM_PREFIX).bar_updates, bar_update("1.5"))
        assert (await client.next("bars.update"))["data"]["close"] == "1.5"
        await client.disconnect()

    run(scenario)


def test_a_client_too_slow_for_its_updates_is_closed_without_holding_up_another(
    redis_client, trader, viewer, instrument, settings
):
    settings.MARKET_TOPICS_QUEUE_FRAMES = 3
    InstrumentFactory(symbol="MSFT", con_id=272093)
    stream = MarketKeys(settings.STREAM_PREFIX).bar_updates

    trader_cookie = cookie_for(trader)
    viewer_cookie = cookie_for(viewer)

    async def scenario():
        slow, other = await signed_in(trader_cookie), await signed_in(viewer_cookie)
        await slow.request({"type": "bars.subscribe", "id": "s", "data": {"symbol": "AAPL", "resolution": "1"}})
        await other.request({"type": "bars.subscribe", "id": "o", "data": {"symbol": "MSFT", "resolution": "1"}})
        # One transaction: the hub reads the burst in one go, faster than any socket drains it.
        pipe = redis_client.pipeline(transaction=True)
        for n in range(10):
            pipe.xadd(stream, bar_update(f"1.{n}"))
        pipe.xadd(stream, bar_update("7", symbol="MSFT"))
        pipe.execute()
        assert await slow.closed_with() == CLOSE_SLOW
        assert slow.received[-1]["error"]["code"] == "ws.slow_consumer"
        assert (await other.next("bars.update"))["data"]["close"] == "7"
        redis_client.xadd(stream, bar_update("8", symbol="MSFT"))
        assert (await other.next("bars.update"))["seq"] == 2
        await other.disconnect()

    run(scenario)
