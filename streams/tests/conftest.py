"""Fixtures of the streams tests: a clean key space on the real Redis, order submission, stream reads."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.conf import settings

from streams.bridge import EventBridge
from streams.live import Fanout
from streams.redis_client import get_redis


@pytest.fixture
def redis_client():
    """The real Redis of ``REDIS_URL``, with this deployment's keys (``{prefix}:*``) wiped before and after."""
    client = get_redis()

    def wipe() -> None:
        keys = list(client.scan_iter(match=f"{settings.STREAM_PREFIX}:*", count=1000))
        if keys:
            client.delete(*keys)

    wipe()
    yield client
    wipe()


@pytest.fixture
def submit(trader, account, instrument):
    """Enter a limit order as the trader through ``order_submit`` and return it."""
    from orders.services import order_submit

    def enter(**changes):
        fields = {
            "actor": trader,
            "account": account,
            "instrument": instrument,
            "side": "BUY",
            "quantity": Decimal("10"),
            "order_type": "LMT",
            "limit_price": Decimal("100.00"),
            "source": "admin",
            "via": "admin",
            # Several identical orders in a row: these tests are not about the duplicate guard.
            "confirm_duplicate": True,
        }
        fields.update(changes)
        return order_submit(**fields)

    return enter


def stream_entries(client, stream: str) -> list[tuple[str, dict]]:
    """Every entry of ``stream`` with its ``data`` parsed."""
    return [(entry_id, {**fields, "data": json.loads(fields["data"])}) for entry_id, fields in client.xrange(stream)]


@pytest.fixture(autouse=True)
def _roles_after_flush(request):
    """Transactional tests flush the tables, data-migrated roles included: put the roles back first."""
    marker = request.node.get_closest_marker("django_db")
    if marker and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        from accounts.services import roles_sync

        roles_sync()


def receive_from_group(group: str, action, timeout: float = 5.0, count: int = 1):
    """Join ``group`` on a fresh channel, run ``action()`` (sync), return the first message that arrives.

    With ``count`` above 1, return a list of the first ``count`` messages.

    All in one event loop: the pub/sub layer only lets a channel join groups in the loop that made it.
    """
    import asyncio

    from asgiref.sync import async_to_sync, sync_to_async
    from channels.layers import get_channel_layer

    async def scenario():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await sync_to_async(action)()
            got = [await asyncio.wait_for(layer.receive(channel), timeout) for _ in range(count)]
            return got[0] if count == 1 else got
        finally:
            await layer.group_discard(group, channel)

    return async_to_sync(scenario)()


@pytest.fixture
def bridge(redis_client):
    """An event bridge stepping in the test's thread, fanning out through a real channel layer."""
    sender = Fanout()
    yield EventBridge(fanout=sender, consumer="bridge-test", block_ms=10)
    sender.close()
