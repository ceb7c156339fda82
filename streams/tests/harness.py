"""Helpers of the streams tests (no fixtures: those are in conftest.py): stream entries, the bridge stepped
by hand, group messages, commit hooks, and users and sessions of the browser tests."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connections

from execution_worker import messages as m
from streams import keys


def stream_entries(client, stream: str) -> list[tuple[str, dict]]:
    """Every entry of ``stream`` with its ``data`` parsed."""
    return [(entry_id, {**fields, "data": json.loads(fields["data"])}) for entry_id, fields in client.xrange(stream)]


def xadd(client, message: m.Message) -> str:
    """Write ``message`` to the events stream as the worker would."""
    return client.xadd(keys.events_stream(), m.encode(message))


def drain(bridge, rounds: int = 50) -> None:
    """Step the bridge until nothing is left to read (bounded)."""
    for _ in range(rounds):
        if bridge.step() == 0:
            return


def pending(client) -> int:
    """How many events the bridge read and has not acknowledged."""
    return client.xpending(keys.events_stream(), "bridge")["pending"]


def accepted_and_working(order, quantity):
    """The worker's ``order.accepted`` and a ``Submitted`` status with ``quantity`` remaining, for ``order``."""
    coid = str(order.client_order_id)
    return (
        m.OrderAccepted(client_order_id=coid, order_id=7, account=order.account.code),
        m.OrderStatus(
            client_order_id=coid,
            order_id=7,
            perm_id=900001,
            status="Submitted",
            filled=Decimal(0),
            remaining=Decimal(quantity),
            avg_fill_price=Decimal(0),
        ),
    )


def apply_events(client, bridge, *messages: m.Message) -> None:
    """Write ``messages`` to the events stream and step the bridge until every one is acknowledged."""
    for message in messages:
        xadd(client, message)
    drain(bridge)
    assert pending(client) == 0


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


def browser_user(username: str, roles: list, accounts: list):
    """A user who signs in with the password ``password`` on a daphne of the real settings."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    from accounts.tests.factories import UserFactory

    user = UserFactory(username=username, roles=roles, accounts=accounts)
    # The test process hashes with MD5 for speed (root conftest); daphne runs the real settings.
    user.password = PBKDF2PasswordHasher().encode("password", PBKDF2PasswordHasher().salt())
    user.save(update_fields=["password"])
    return user


def in_db(query):
    """Run an ORM call in a short-lived thread that closes its connection after.

    Under Playwright's sync API the test body runs in a context of its own, whose database
    connection pytest-django never closes; an open one would keep the test database from
    being dropped at the end of the run.
    """

    def run():
        try:
            return query()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def log_in(browser, stack, username: str, next_path: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(f"{stack.url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    try:
        page.wait_for_url(f"{stack.url}{next_path}", timeout=10_000)
    except Exception:
        pytest.fail(
            f"login as {username} did not reach {next_path}: {page.url}\n{page.inner_text('body')[:2000]}"
            f"\nweb log:\n{stack.log('web')}"
        )
    return context, page
