"""The market topics socket: who may open it, subscriptions with snapshots, updates from the streams, limits.

Every frame sent or received here is checked against the AsyncAPI document (``topic_client``).
Bar updates are written to ``{prefix}:bars:updates`` as the bar builder writes them, ticks to
``{prefix}:md:<symbol>`` as the execution worker does.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from knox.models import AuthToken

from execution_worker import messages as m
from marketdata.bars import BarRecord
from marketdata.keys import MarketKeys
from marketdata.tests.topic_client import TopicClient
from marketdata.topics.consumer import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED
from orders.tests.factories import InstrumentFactory
from streams.live import user_group
from tradeconsole.asgi import application

pytestmark = pytest.mark.django_db

HOST = (b"host", b"127.0.0.1")
ORIGIN = (b"origin", b"http://127.0.0.1")
T0 = 1_796_000_040  # a minute's start, epoch seconds


def run(coroutine_function):
    """Run an async scenario from a sync test, so the consumer's DB reads share the test transaction."""
    return async_to_sync(coroutine_function)()


def cookie_for(user) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode())


def client_for(headers: list, path: str = "/ws/market/", subprotocols: list[str] | None = None) -> TopicClient:
    return TopicClient(WebsocketCommunicator(application, path, headers=[HOST, *headers], subprotocols=subprotocols))


async def signed_in(cookie: tuple[bytes, bytes], **kwargs) -> TopicClient:
    client = client_for([ORIGIN, cookie], **kwargs)
    connected, _ = await client.connect()
    assert connected
    return client


def keys() -> MarketKeys:
    return MarketKeys(settings.STREAM_PREFIX)


def bar(time: int = T0, close: str = "101", *, closed: bool = False, symbol: str = "AAPL", resolution: str = "1"):
    price = Decimal(close)
    return BarRecord(symbol, resolution, time, Decimal("100"), max(price, Decimal("100")), Decimal("99"), price,
                     Decimal("10"), closed)  # fmt: skip


def publish_bar(redis, record: BarRecord) -> None:
    """Write a bar change as the builder does: its window first, then the announcement on bars:updates."""
    if record.closed:
        redis.lpush(keys().closed_bars(record.symbol, record.resolution), record.encode())
    else:
        redis.set(keys().forming_bar(record.symbol, record.resolution), record.encode())
    redis.xadd(keys().bar_updates, {"bar": record.encode()}, maxlen=10_000, approximate=True)


def publish_tick(redis, symbol: str = "AAPL", last: str = "100.5") -> None:
    tick = m.MarketData(symbol=symbol, bid=Decimal("100.4"), ask=Decimal("100.6"), last=Decimal(last),
                        bid_size=Decimal("3"), ask_size=Decimal("4"), last_size=Decimal("1"))  # fmt: skip
    redis.xadd(keys().ticks(symbol), m.encode(tick), maxlen=1000, approximate=True)


def subscribe_bars(request_id: str = "r1", symbol: str = "AAPL", resolution: str = "1") -> dict:
    return {"type": "bars.subscribe", "id": request_id, "data": {"symbol": symbol, "resolution": resolution}}


# Who may open the socket.


def test_an_anonymous_socket_is_told_why_and_closed_with_4401(redis_client):
    async def scenario():
        client = client_for([ORIGIN])
        await client.connect()
        assert await client.closed_with() == CLOSE_UNAUTHENTICATED
        assert client.received[-1]["error"]["code"] == "ws.unauthenticated"

    run(scenario)


def test_a_wrong_api_token_is_refused_even_with_a_session(redis_client, trader):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = client_for([ORIGIN, trader_cookie], path="/ws/market/?token=not-a-token")
        await client.connect()
        assert await client.closed_with() == CLOSE_UNAUTHENTICATED

    run(scenario)


def test_a_user_without_a_desk_role_is_closed_with_4403(redis_client, user):
    user_cookie = cookie_for(user)

    async def scenario():
        client = client_for([ORIGIN, user_cookie])
        await client.connect()
        assert await client.closed_with() == CLOSE_FORBIDDEN
        assert client.received[-1]["error"]["code"] == "ws.forbidden"

    run(scenario)


# Transactional: the token check's prepared statements (tradeconsole.db.cursor) and Channels'
# per-message connection cleanup do not share a test transaction's connection.
@pytest.mark.django_db(transaction=True)
def test_an_api_token_opens_the_socket_by_query_or_by_header(redis_client, trader, instrument):
    _, token = AuthToken.objects.create(user=trader)

    async def scenario():
        for client in (
            # Not a browser, but the origin check holds for every socket: scripts name the console's origin.
            client_for([ORIGIN], path=f"/ws/market/?token={token}"),
            client_for([ORIGIN, (b"authorization", f"Token {token}".encode())]),
        ):
            connected, _ = await client.connect()
            assert connected
            assert (await client.request(subscribe_bars()))["data"]["topic"] == "bars:AAPL:1"
            await client.disconnect()

    run(scenario)


def test_a_socket_from_a_foreign_origin_is_refused_before_connect(redis_client, trader):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = client_for([(b"origin", b"https://evil.example"), trader_cookie])
        connected, _ = await client.connect()
        assert not connected

    run(scenario)


def test_logging_out_closes_the_users_market_socket(redis_client, trader):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        await get_channel_layer().group_send(user_group(trader.pk), {"type": "session.close"})
        assert await client.closed_with() == CLOSE_UNAUTHENTICATED

    run(scenario)


# Subscriptions, snapshots and updates.


def test_bars_subscribe_answers_with_closed_bars_and_the_forming_one_then_each_update(redis_client, trader, instrument):
    publish_bar(redis_client, bar(T0 - 120, "100.5", closed=True))
    publish_bar(redis_client, bar(T0 - 60, "100.7", closed=True))
    publish_bar(redis_client, bar(T0, "101"))

    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        response = await client.request(subscribe_bars())
        assert response["id"] == "r1" and response["data"]["topic"] == "bars:AAPL:1"
        snapshot = response["data"]["snapshot"]
        assert [(b["time"], b["close"], b["closed"]) for b in snapshot] == [
            (T0 - 120, "100.5", True), (T0 - 60, "100.7", True), (T0, "101", False),
        ]  # fmt: skip
        publish_bar(redis_client, bar(T0, "101.25"))
        publish_bar(redis_client, bar(T0, "101.25", closed=True))
        first, second = await client.next("bars.update"), await client.next("bars.update")
        assert (first["topic"], first["seq"], first["data"]["close"], first["data"]["closed"]) == (
            "bars:AAPL:1", 1, "101.25", False,
        )  # fmt: skip
        assert (second["seq"], second["data"]["closed"]) == (2, True)
        assert second["data"] == bar(T0, "101.25", closed=True).as_dict()
        await client.disconnect()

    run(scenario)


def test_only_the_subscribed_symbol_and_resolution_arrive(redis_client, trader, instrument):
    InstrumentFactory(symbol="MSFT", con_id=272093)

    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        await client.request(subscribe_bars(resolution="5"))
        publish_bar(redis_client, bar(resolution="1"))
        publish_bar(redis_client, bar(symbol="MSFT", resolution="5"))
        publish_bar(redis_client, bar(resolution="5", close="102"))
        update = await client.next("bars.update")
        assert (update["topic"], update["seq"], update["data"]["close"]) == ("bars:AAPL:5", 1, "102")
        assert await client.quiet()
        await client.disconnect()

    run(scenario)


def test_quotes_subscribe_answers_with_the_newest_quote_then_each_tick(redis_client, trader, instrument):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        empty = await client.request({"type": "quotes.subscribe", "id": "q0", "data": {"symbol": "aapl"}})
        assert empty["data"] == {"topic": "quotes:AAPL", "snapshot": None}
        await client.request({"type": "quotes.unsubscribe", "id": "q1", "data": {"symbol": "AAPL"}})
        publish_tick(redis_client, last="100.5")
        response = await client.request({"type": "quotes.subscribe", "id": "q2", "data": {"symbol": "AAPL"}})
        assert response["data"]["snapshot"]["last"] == "100.5"
        assert response["data"]["snapshot"]["bid"] == "100.4"
        publish_tick(redis_client, last="100.75")
        update = await client.next("quotes.update")
        assert (update["topic"], update["seq"], update["data"]["last"]) == ("quotes:AAPL", 1, "100.75")
        await client.disconnect()

    run(scenario)


def test_unsubscribe_stops_the_updates_of_that_topic_only(redis_client, trader, instrument):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        await client.request(subscribe_bars("a", resolution="1"))
        await client.request(subscribe_bars("b", resolution="5"))
        response = await client.request(
            {"type": "bars.unsubscribe", "id": "c", "data": {"symbol": "AAPL", "resolution": "1"}}
        )
        assert response["data"] == {"topic": "bars:AAPL:1"}
        publish_bar(redis_client, bar(resolution="1"))
        publish_bar(redis_client, bar(resolution="5"))
        assert (await client.next("bars.update"))["topic"] == "bars:AAPL:5"
        assert await client.quiet()
        await client.disconnect()

    run(scenario)


def test_two_clients_on_one_topic_each_get_every_update_in_order(redis_client, trader, viewer, instrument):
    trader_cookie = cookie_for(trader)
    viewer_cookie = cookie_for(viewer)

    async def scenario():
        one, two = await signed_in(trader_cookie), await signed_in(viewer_cookie)
        await one.request(subscribe_bars())
        await two.request(subscribe_bars())
        for cents in range(5):
            publish_bar(redis_client, bar(close=f"101.0{cents}"))
        for client in (one, two):
            updates = [await client.next("bars.update") for _ in range(5)]
            assert [u["seq"] for u in updates] == [1, 2, 3, 4, 5]
            assert [u["data"]["close"] for u in updates] == [f"101.0{c}" for c in range(5)]
        await one.disconnect()
        publish_bar(redis_client, bar(close="102"))
        assert (await two.next("bars.update"))["seq"] == 6
        await two.disconnect()

    run(scenario)


def test_subscribing_again_gives_a_fresh_snapshot_and_restarts_seq(redis_client, trader, instrument):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        await client.request(subscribe_bars())
        publish_bar(redis_client, bar(close="101.5"))
        assert (await client.next("bars.update"))["seq"] == 1
        again = await client.request(subscribe_bars("r2"))
        assert again["data"]["snapshot"][-1]["close"] == "101.5"
        publish_bar(redis_client, bar(close="101.75"))
        assert (await client.next("bars.update"))["seq"] == 1
        await client.disconnect()

    run(scenario)


def test_a_bad_entry_on_the_bar_stream_is_skipped_and_the_next_one_arrives(redis_client, trader, instrument):
    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        await client.request(subscribe_bars())
        redis_client.xadd(keys().bar_updates, {"bar": "{not json"})
        redis_client.xadd(keys().bar_updates, {"bar": '{"symbol":"AAPL","resolution":"1","time":"x"}'})
        redis_client.xadd(keys().bar_updates, {"bar": bar().encode().replace('"close":"101"', '"close":"abc"')})
        redis_client.xadd(keys().bar_updates, {"bar": bar().encode().replace('"closed":false', '"closed":0')})
        redis_client.xadd(keys().ticks("AAPL"), {"v": "1", "type": "md.tick", "data": "{}"})
        publish_bar(redis_client, bar(close="103"))
        update = await client.next("bars.update")
        assert (update["seq"], update["data"]["close"]) == (1, "103")
        await client.disconnect()

    run(scenario)


# Heartbeat, ping, encodings.


def test_the_server_sends_heartbeats_and_answers_ping(redis_client, trader, settings):
    settings.MARKET_TOPICS_HEARTBEAT_SECONDS = 0.05

    trader_cookie = cookie_for(trader)

    async def scenario():
        client = await signed_in(trader_cookie)
        heartbeat = await client.receive()
        assert heartbeat["type"] == "heartbeat" and heartbeat["ts"] > 1_600_000_000_000
        await client.send({"type": "ping", "id": "p1"})
        assert await client.next("pong") == {"type": "pong", "id": "p1"}
        await client.disconnect()

    run(scenario)


def test_only_json_is_offered_a_client_asking_for_msgpack_gets_json_and_no_subprotocol(
    redis_client, trader, instrument
):
    trader_cookie = cookie_for(trader)

    async def scenario():
        clients = []
        # Both open before either closes: a closing socket ends the test transaction's connection.
        for offered, accepted in ((["tc.msgpack", "tc.json"], "tc.json"), (["tc.msgpack"], None)):
            client = client_for([ORIGIN, trader_cookie], subprotocols=offered)
            connected, subprotocol = await client.connect()
            assert connected and subprotocol == accepted
            assert (await client.request(subscribe_bars()))["data"]["topic"] == "bars:AAPL:1"
            clients.append(client)
        for client in clients:
            await client.disconnect()

    run(scenario)
