"""The topic hub on the real Redis: a subscription gets every update after its snapshot's position, in order, once."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from asgiref.sync import async_to_sync
from django.conf import settings

from marketdata.bars import BarRecord
from marketdata.keys import MarketKeys
from marketdata.topics.hub import TopicHub

T0 = 1_796_000_040


def bar_fields(close: str) -> dict:
    price = Decimal(close)
    return {"bar": BarRecord("AAPL", "1", T0, price, price, price, price).encode()}


async def until(condition, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def test_a_subscription_starts_right_after_its_snapshot_position(redis_client):
    stream = MarketKeys(settings.STREAM_PREFIX).bar_updates
    first = redis_client.xadd(stream, bar_fields("1"))
    redis_client.xadd(stream, bar_fields("2"))

    async def scenario():
        hub = TopicHub(settings.REDIS_URL, settings.STREAM_PREFIX)
        got: list[str] = []
        subscription = hub.add("bars:AAPL:1", lambda sub, update: got.append(update.data["close"]))
        hub.follow(subscription, first)
        redis_client.xadd(stream, bar_fields("3"))
        await until(lambda: len(got) >= 2)
        hub.remove(subscription)
        assert got == ["2", "3"]
        assert not hub.cursors
        await hub.client.aclose()

    async_to_sync(scenario)()


def test_updates_that_arrive_while_a_snapshot_is_read_are_kept_and_only_those_after_it_go_out(redis_client):
    stream = MarketKeys(settings.STREAM_PREFIX).bar_updates

    async def scenario():
        hub = TopicHub(settings.REDIS_URL, settings.STREAM_PREFIX)
        early: list[str] = []
        late: list[str] = []
        following = hub.add("bars:AAPL:1", lambda sub, update: early.append(update.data["close"]))
        hub.follow(following, "0-0")
        pending = hub.add("bars:AAPL:1", lambda sub, update: late.append(update.data["close"]))
        redis_client.xadd(stream, bar_fields("1"))
        snapshot_position = redis_client.xadd(stream, bar_fields("2"))
        redis_client.xadd(stream, bar_fields("3"))
        await until(lambda: len(early) >= 3)
        assert late == []  # its snapshot is still being read: kept, not sent
        hub.follow(pending, snapshot_position)
        assert late == ["3"]
        redis_client.xadd(stream, bar_fields("4"))
        await until(lambda: len(late) >= 2)
        assert (early, late) == (["1", "2", "3", "4"], ["3", "4"])
        hub.remove(following)
        hub.remove(pending)
        await hub.client.aclose()

    async_to_sync(scenario)()
