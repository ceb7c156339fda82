"""Who may open the market topics: a signed-in desk member, by session cookie or by API token."""

from __future__ import annotations

from urllib.parse import parse_qsl

from rest_framework.exceptions import AuthenticationFailed

from accounts.api.authentication import TokenAuthentication
from accounts.selectors import user_roles
from accounts.two_factor import session_verified

TOKEN_PREFIX = "token "


def presented_token(scope: dict) -> str | None:
    """The API token the socket presents: ``?token=`` or ``Authorization: Token …`` (as the API reads it)."""
    for name, value in scope.get("headers") or []:
        if name == b"authorization":
            text = value.decode("latin-1").strip()
            if text.lower().startswith(TOKEN_PREFIX):
                return text[len(TOKEN_PREFIX) :].strip() or None
    query = scope.get("query_string", b"").decode("latin-1")[:2000]
    for key, value in parse_qsl(query):
        if key == "token" and value:
            return value
    return None


def socket_user(scope: dict):
    """The active user the socket speaks for (its token first, else its session), or None.

    A token that is wrong or expired is None, even when a session cookie came with it: the caller
    asked to be that token's user. A session not verified with the authenticator code its user
    owes (``accounts.two_factor.session_verified``) is None.
    """
    token = presented_token(scope)
    if token is not None:
        try:
            user, _ = TokenAuthentication().authenticate_credentials(token[:200].encode())
        except (AuthenticationFailed, UnicodeError):
            return None
        return user if user.is_active else None
    user = scope.get("user")
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    # A session signed in by password but not by the authenticator code the user owes is signed out
    # here too, as on the HTTP pages and the live socket.
    if not session_verified(user, scope.get("session")):
        return None
    return user


def may_read_market_data(user) -> bool:
    """Whether ``user`` holds a desk role (any role reads, as ``IsDeskMember`` lets the API's reads)."""
    return bool(user_roles(user))
