"""The live pages' WebSocket holds a sign-in to the authenticator code as the HTTP pages' middleware does."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from accounts.tests.totp import code_of, enrolled
from streams.consumers import CLOSE_UNAUTHENTICATED
from tradeconsole.asgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_throttle_counts")]


def _session_headers(client: Client) -> list[tuple[bytes, bytes]]:
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1"), (b"cookie", cookie.encode())]


def _password_only_session(user) -> Client:
    """A client signed in as ``user`` by password alone, the user then enrolling an authenticator."""
    client = Client()
    client.force_login(user)
    enrolled(user)
    return client


def _socket_close_code(client: Client):
    headers = _session_headers(client)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/live/?page=desk", headers=headers)
        connected, code = await communicator.connect(timeout=3)
        if connected:
            await communicator.disconnect()
        return connected, code

    return async_to_sync(scenario)()


def test_a_socket_of_an_enrolled_users_unverified_session_is_refused_as_signed_out(settings, trader, redis_client):
    settings.TWO_FACTOR_ENFORCED = False
    client = _password_only_session(trader)

    assert _socket_close_code(client) == (False, CLOSE_UNAUTHENTICATED)


def _market_socket_close_code(client: Client) -> int | None:
    """The code the market topics socket closes with (it accepts, says why, then closes); None if it serves."""
    headers = _session_headers(client)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/market/", headers=headers)
        connected, _ = await communicator.connect(timeout=3)
        assert connected
        try:
            while True:
                message = await communicator.receive_output(timeout=2)
                if message["type"] == "websocket.close":
                    return message.get("code")
        except TimeoutError:
            return None  # still serving (the communicator stops the application on a timeout)

    return async_to_sync(scenario)()


def test_the_market_socket_of_an_enrolled_users_unverified_session_is_refused_too(settings, trader, redis_client):
    # The row ticket's quote comes on /ws/market/: another way in by the same session.
    settings.TWO_FACTOR_ENFORCED = False
    client = _password_only_session(trader)

    assert _market_socket_close_code(client) == CLOSE_UNAUTHENTICATED


def test_a_socket_of_a_session_verified_at_sign_in_is_served(settings, trader, redis_client, totp_clock):
    settings.TWO_FACTOR_ENFORCED = False
    device = enrolled(trader)
    client = Client()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "trader", "password": "password", "otp_token": code_of(device)}
    )
    assert response.status_code == 302

    connected, _ = _socket_close_code(client)

    assert connected


def test_where_enforced_a_socket_of_a_risk_manager_not_enrolled_is_refused(settings, risk_manager, redis_client):
    settings.TWO_FACTOR_ENFORCED = True
    client = Client()
    client.force_login(risk_manager)

    assert _socket_close_code(client) == (False, CLOSE_UNAUTHENTICATED)
