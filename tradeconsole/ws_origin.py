"""The WebSocket origin check: a socket opens only from the console's own origin, port included."""

from __future__ import annotations

from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _netloc(host: str, port: int | None, scheme: str) -> tuple[str, int | None]:
    return host.lower().rstrip("."), port if port is not None else DEFAULT_PORTS.get(scheme)


def same_origin(origin: str, host_header: str) -> bool:
    """Whether ``origin`` is the origin the request was sent to (its ``Host``), or a trusted one.

    Channels' ``AllowedHostsOriginValidator`` compares the host name only, so a page served by
    anything else on the same host (another port) could open the desk's socket with the user's
    cookies, which are not scoped by port. As Django's CSRF check does for forms, the origin
    must match the ``Host`` the browser sent, port included, or be one of ``CSRF_TRUSTED_ORIGINS``.
    """
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
        claimed = urlsplit(f"//{host_header}")
        if not parsed.hostname or not claimed.hostname or parsed.scheme not in ("http", "https"):
            return False
        # The Host header carries no scheme: its default port is the origin's (a TLS proxy in front).
        return _netloc(parsed.hostname, parsed.port, parsed.scheme) == _netloc(
            claimed.hostname, claimed.port, parsed.scheme
        )
    except ValueError:
        # A port that is not a number, or out of range.
        return False


class SameOriginValidator:
    """ASGI middleware: refuse (close before accept) a WebSocket whose ``Origin`` is not ``same_origin``.

    A request without an ``Origin`` (not a browser) is left to the next check.
    """

    def __init__(self, application) -> None:
        self.application = application

    async def __call__(self, scope, receive, send):
        if scope["type"] == "websocket":
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin")
            if origin is not None:
                host = headers.get(b"host", b"").decode("latin-1")
                if not same_origin(origin.decode("latin-1"), host):
                    return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
