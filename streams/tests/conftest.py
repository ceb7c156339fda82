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


# Debian's Chromium, never a downloaded browser; the browser tests fail (never skip) without it.
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium, headless, driven by Playwright's sync API."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM reads are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


def browser_user(username: str, roles: list, accounts: list):
    """A user who signs in with the password ``password`` on a daphne of the real settings."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from accounts.tests.factories import UserFactory

    user = UserFactory(username=username, roles=roles, accounts=accounts)
    # The test process hashes with MD5 for speed (root conftest); daphne runs the real settings.
    user.password = PBKDF2PasswordHasher().encode("password", PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def sender(redis_client):
    """A fresh ``Fanout`` that ``streams.publish`` sends every announced row through during the test."""
    from streams import publish

    fanout = Fanout()
    publish.use(fanout)
    yield fanout
    publish.use(None)
    fanout.close()


@pytest.fixture
def bridge(sender):
    """An event bridge stepping in the test's thread; its services' announcements go out through ``sender``."""
    return EventBridge(consumer="bridge-test", block_ms=10)


def commit() -> None:
    """Run the commit hooks of everything the test did so far, as the commit its transaction never makes would.

    Each hook runs once (as after a real commit), so announcements made afterwards form the next commit.
    Returns once the rows they published went to the channel layer, so a group joined later never
    receives them.
    """
    from django.db import connection

    from streams import publish

    hooks = list(connection.run_on_commit)
    del connection.run_on_commit[:]
    for _, hook, _ in hooks:
        hook()
    publish.sender().flush()
