"""The live socket: who may connect, which groups, sequence and resync, logout, bad frames, slow pages."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from orders.tests.factories import OrderFactory
from streams import live, rows
from streams.consumers import CLOSE_BAD_REQUEST, CLOSE_FORBIDDEN, CLOSE_RESYNC, CLOSE_UNAUTHENTICATED
from tradeconsole.asgi import application

pytestmark = pytest.mark.django_db

ORIGIN = (b"origin", b"http://127.0.0.1")
HOST = (b"host", b"127.0.0.1")


def _cookie_for(user) -> tuple[Client, tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return client, (b"cookie", cookie.encode())


def _communicator(path: str, headers: list) -> WebsocketCommunicator:
    # A browser always names the host it connects to; the origin check compares the two.
    if not any(name == b"host" for name, _ in headers):
        headers = [HOST, *headers]
    return WebsocketCommunicator(application, path, headers=headers)


def run(coroutine_function):
    """Run an async scenario from a sync test, so the consumer's DB reads share the test transaction."""
    return async_to_sync(coroutine_function)()


async def _hello(communicator, user_groups_cursor=None):
    epoch = live.epoch()
    await communicator.send_json_to({"type": "hello", "epoch": epoch, "cursor": user_groups_cursor or {}})
    return await communicator.receive_json_from(timeout=3)


def test_an_anonymous_socket_is_refused_with_4401(redis_client):
    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN])
        connected, code = await communicator.connect(timeout=3)
        assert not connected and code == CLOSE_UNAUTHENTICATED

    run(scenario)


def test_a_socket_from_a_foreign_origin_is_refused_before_connect(redis_client, trader):
    _, cookie = _cookie_for(trader)

    async def scenario():
        for origin in (b"https://evil.example", b"http://127.0.0.1.evil.com"):
            communicator = _communicator("/ws/live/?page=blotter", [(b"origin", origin), cookie])
            connected, _ = await communicator.connect(timeout=3)
            assert not connected

    run(scenario)


def test_a_socket_from_another_port_of_the_same_host_is_refused(redis_client, trader):
    _, cookie = _cookie_for(trader)

    async def scenario():
        for origin, host in (
            (b"http://127.0.0.1:6666", b"127.0.0.1:8000"),
            (b"http://127.0.0.1:8000", b"127.0.0.1"),
            (b"https://127.0.0.1", b"127.0.0.1:80"),
        ):
            communicator = _communicator("/ws/live/?page=blotter", [(b"host", host), (b"origin", origin), cookie])
            connected, _ = await communicator.connect(timeout=3)
            assert not connected, (origin, host)

    run(scenario)


@pytest.mark.parametrize(
    ("origin", "host"), [(b"http://127.0.0.1:8000", b"127.0.0.1:8000"), (b"http://127.0.0.1:80", b"127.0.0.1")]
)
def test_a_socket_from_the_consoles_own_origin_and_port_is_accepted(redis_client, trader, origin, host):
    _, cookie = _cookie_for(trader)

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [(b"host", host), (b"origin", origin), cookie])
        connected, _ = await communicator.connect(timeout=3)
        assert connected
        await communicator.disconnect()

    run(scenario)


def test_asking_for_another_accounts_rows_is_refused_with_4403(redis_client, trader, other_account):
    _, cookie = _cookie_for(trader)

    async def scenario():
        communicator = _communicator(f"/ws/live/?page=blotter&account={other_account.pk}", [ORIGIN, cookie])
        connected, code = await communicator.connect(timeout=3)
        assert not connected and code == CLOSE_FORBIDDEN

    run(scenario)


def test_an_account_of_non_ascii_digits_is_refused_with_4403(redis_client, trader, account):
    # "²" is a digit to str.isdigit, not to int(): the consumer's connect raised before.
    _, cookie = _cookie_for(trader)

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter&account=%C2%B2", [ORIGIN, cookie])
        connected, code = await communicator.connect(timeout=3)
        assert not connected and code == CLOSE_FORBIDDEN

    run(scenario)


def test_a_member_receives_rows_of_their_account_and_not_of_another(
    redis_client, trader, account, other_account, instrument
):
    _, cookie = _cookie_for(trader)
    mine = OrderFactory(account=account, instrument=instrument)
    theirs = OrderFactory(account=other_account, instrument=instrument)

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN, cookie])
        connected, _ = await communicator.connect(timeout=3)
        assert connected
        assert (await _hello(communicator))["t"] == "ready"
        await _send(live.account_group(other_account.pk), rows.order_row(theirs))
        await _send(live.account_group(account.pk), rows.order_row(mine))
        frame = await communicator.receive_json_from(timeout=3)
        assert frame["t"] == "rows" and [r["id"] for r in frame["rows"]] == [f"order-{mine.pk}"]
        assert f'id="order-{mine.pk}"' in frame["rows"][0]["html"] and "Cancel" in frame["rows"][0]["html"]
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

    run(scenario)


def _send_now(group: str, group_rows: list[dict]) -> None:
    """Send ``group_rows`` to ``group`` with its next sequence number, as ``streams.publish`` does, and wait."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    seq = live.get_redis().incr(f"{settings.STREAM_PREFIX}:live:seq:{group}")
    message = {"type": "live.rows", "group": group, "seq": seq, "epoch": live.epoch(), "rows": group_rows}
    async_to_sync(get_channel_layer().group_send)(group, {**message, "src_ts": None})


async def _send(group: str, row: dict) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(_send_now)(group, [row])


def test_a_viewer_gets_rows_without_the_cancel_button(redis_client, viewer, account, instrument):
    _, cookie = _cookie_for(viewer)
    order = OrderFactory(account=account, instrument=instrument)

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await _hello(communicator)
        await _send(live.account_group(account.pk), rows.order_row(order))
        frame = await communicator.receive_json_from(timeout=3)
        assert "Cancel" not in frame["rows"][0]["html"]
        await communicator.disconnect()

    run(scenario)


def test_a_gap_in_the_group_sequence_tells_the_page_to_resync(redis_client, trader, account, instrument):
    _, cookie = _cookie_for(trader)
    order = OrderFactory(account=account, instrument=instrument)
    group = live.account_group(account.pk)

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await _hello(communicator)
        from asgiref.sync import sync_to_async

        # A message lost on the way: its seq is taken but it never reaches the consumer.
        await sync_to_async(live.get_redis().incr)(f"{settings.STREAM_PREFIX}:live:seq:{group}")
        await _send(group, rows.order_row(order))
        frame = await communicator.receive_json_from(timeout=3)
        assert frame["t"] == "resync" and frame["why"] == "gap"
        await communicator.disconnect()

    run(scenario)


def test_a_page_whose_snapshot_is_older_than_the_group_is_told_to_resync_on_hello(
    redis_client, trader, account, instrument
):
    _, cookie = _cookie_for(trader)
    group = live.account_group(account.pk)
    _send_now(group, [rows.order_row(OrderFactory(account=account, instrument=instrument))])

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        frame = await _hello(communicator, {group: 0})
        assert frame["t"] == "resync"
        await communicator.disconnect()

    run(scenario)


def test_logging_out_closes_the_users_open_sockets(redis_client, trader):
    client, cookie = _cookie_for(trader)

    async def scenario():
        communicator = _communicator("/ws/live/?page=desk", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await _hello(communicator)
        from asgiref.sync import sync_to_async

        await sync_to_async(client.post)("/admin/logout/")
        closed = await communicator.receive_output(timeout=3)
        assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}

    run(scenario)


def test_deactivating_a_user_closes_their_sockets(redis_client, trader, django_capture_on_commit_callbacks):
    _, cookie = _cookie_for(trader)

    async def scenario():
        communicator = _communicator("/ws/live/?page=desk", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await _hello(communicator)
        from asgiref.sync import sync_to_async

        def deactivate():
            with django_capture_on_commit_callbacks(execute=True):
                trader.is_active = False
                trader.save(update_fields=["is_active"])

        await sync_to_async(deactivate)()
        closed = await communicator.receive_output(timeout=3)
        assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}

    run(scenario)


@pytest.mark.parametrize(
    "frame, code",
    [
        ("x" * 5000, "frame.too_large"),
        ("{not json", "frame.not_json"),
        (json.dumps({"type": "order.place", "symbol": "AAPL"}), "frame.unknown_type"),
        (json.dumps({"type": "hello", "epoch": 1, "cursor": []}), "frame.bad_hello"),
        (json.dumps({"type": "ack", "n": 10**9}), "frame.bad_ack"),
    ],
)
def test_bad_inbound_frames_are_refused_with_a_clear_code(redis_client, trader, frame, code):
    _, cookie = _cookie_for(trader)

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await communicator.send_to(text_data=frame)
        error = await communicator.receive_json_from(timeout=3)
        assert error["t"] == "error" and error["code"] == code
        closed = await communicator.receive_output(timeout=3)
        assert closed == {"type": "websocket.close", "code": CLOSE_BAD_REQUEST}

    run(scenario)


def test_a_page_that_never_acknowledges_is_closed_for_resync_not_buffered(
    redis_client, trader, account, instrument, monkeypatch
):
    from streams import consumers

    monkeypatch.setattr(consumers, "MAX_UNACKED", 5)
    _, cookie = _cookie_for(trader)
    orders = [OrderFactory(account=account, instrument=instrument) for _ in range(8)]
    group = live.account_group(account.pk)

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await _hello(communicator)
        import asyncio

        for order in orders:
            await _send(group, rows.order_row(order))
            # Apart, so each update is its own frame (back-to-back updates share one).
            await asyncio.sleep(0.05)
        outputs = []
        while True:
            output = await communicator.receive_output(timeout=3)
            outputs.append(output)
            if output["type"] == "websocket.close":
                break
        assert outputs[-1]["code"] == CLOSE_RESYNC
        assert len(outputs) - 1 <= 5

    run(scenario)


def test_updates_to_one_row_within_50_ms_are_merged_into_the_latest(redis_client, trader, account, instrument):
    _, cookie = _cookie_for(trader)
    order = OrderFactory(account=account, instrument=instrument)
    group = live.account_group(account.pk)

    async def scenario():
        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await _hello(communicator)
        from channels.layers import get_channel_layer

        layer, epoch = get_channel_layer(), live.epoch()
        for status in ("SUBMITTED", "PARTIALLY_FILLED", "FILLED"):
            row = rows.order_row(order)
            row["ctx"]["status"] = status
            # Straight from this loop, so the three land well inside one 50 ms window.
            seq = live.get_redis().incr(f"{settings.STREAM_PREFIX}:live:seq:{group}")
            await layer.group_send(group, live._message(group, seq, epoch, [row], None))
        first = await communicator.receive_json_from(timeout=3)
        second = await communicator.receive_json_from(timeout=3)
        assert 'data-status="SUBMITTED"' in first["rows"][0]["html"]
        assert 'data-status="FILLED"' in second["rows"][0]["html"]
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

    run(scenario)


def test_a_socket_whose_session_was_deleted_is_closed_at_the_next_revalidation(redis_client, trader, monkeypatch):
    from django.contrib.sessions.models import Session

    from streams import consumers

    monkeypatch.setattr(consumers, "REVALIDATE_SECONDS", 0.2)
    _, cookie = _cookie_for(trader)

    async def scenario():
        communicator = _communicator("/ws/live/?page=desk", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await _hello(communicator)
        from asgiref.sync import sync_to_async

        # Deleted behind the app's back (no logout signal), as an admin clearing sessions would.
        await sync_to_async(lambda: Session.objects.all().delete())()
        closed = await communicator.receive_output(timeout=3)
        assert closed == {"type": "websocket.close", "code": CLOSE_UNAUTHENTICATED}

    run(scenario)


def test_updates_of_different_rows_arriving_back_to_back_share_one_frame(
    redis_client, trader, account, instrument, monkeypatch
):
    from streams import consumers

    # A wide window, so the test does not depend on how fast this machine is today.
    monkeypatch.setattr(consumers, "FRAME_WINDOW_SECONDS", 0.3)
    _, cookie = _cookie_for(trader)
    first, second, third = (OrderFactory(account=account, instrument=instrument) for _ in range(3))
    group = live.account_group(account.pk)

    async def scenario():
        from channels.layers import get_channel_layer

        communicator = _communicator("/ws/live/?page=blotter", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        await _hello(communicator)
        layer, epoch = get_channel_layer(), live.epoch()

        async def send(order):
            seq = live.get_redis().incr(f"{settings.STREAM_PREFIX}:live:seq:{group}")
            await layer.group_send(group, live._message(group, seq, epoch, [rows.order_row(order)], None))

        # A row that finds the socket quiet goes at once; rows right behind a frame share the next one.
        await send(first)
        frame = await communicator.receive_json_from(timeout=3)
        assert [row["id"] for row in frame["rows"]] == [f"order-{first.pk}"]
        await send(second)
        await send(third)
        frame = await communicator.receive_json_from(timeout=3)
        assert [row["id"] for row in frame["rows"]] == [f"order-{second.pk}", f"order-{third.pk}"]
        await communicator.disconnect()

    run(scenario)
