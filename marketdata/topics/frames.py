"""The frames of the market topics: what a client may send (parsed and checked here) and the server's replies.

Every frame is an object with ``type``. A frame that is not one the protocol knows is a
``FrameRefused`` with a stable code; the consumer answers it with an ``error`` frame (or a
``*.response`` with ``error`` when the request's type and id were readable) and keeps serving.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from marketdata.resolutions import BadResolution
from marketdata.resolutions import parse as parse_resolution

BAD_FRAME = "ws.bad_frame"
FRAME_TOO_LARGE = "ws.frame_too_large"
UNKNOWN_TYPE = "ws.unknown_type"
TOO_MANY_SUBSCRIPTIONS = "ws.too_many_subscriptions"
NOT_SUBSCRIBED = "ws.not_subscribed"
SLOW_CONSUMER = "ws.slow_consumer"
UNAUTHENTICATED = "ws.unauthenticated"
FORBIDDEN = "ws.forbidden"
UNKNOWN_SYMBOL = "marketdata.unknown_symbol"
BAD_SYMBOL = "marketdata.bad_symbol"
UNAVAILABLE = "marketdata.unavailable"

SUBSCRIBE_TYPES = ("bars.subscribe", "bars.unsubscribe", "quotes.subscribe", "quotes.unsubscribe")
KNOWN_TYPES = (*SUBSCRIBE_TYPES, "ping")
# Letters, digits and the punctuation IB symbols use ("BRK B", "BF.B", "RDS-A"); upper case.
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9 ./-]{0,31}$")
_MAX_ID_CHARS = 64


class FrameRefused(ValueError):
    """A client frame the server will not act on: ``code`` is stable, ``message`` is for a person.

    ``kind`` and ``request_id`` are set when the frame named a known request type and a usable
    id, so the answer can be that request's ``*.response``.
    """

    def __init__(self, code: str, message: str, *, kind: str | None = None, request_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.kind = kind
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Request:
    """One checked client request: ``kind`` is its type, ``topic`` the topic it names (none for ping)."""

    kind: str
    request_id: str | None
    symbol: str | None = None
    resolution: str | None = None

    @property
    def family(self) -> str:
        """``bars`` or ``quotes`` (``ping`` for a ping)."""
        return self.kind.split(".", 1)[0]

    @property
    def topic(self) -> str | None:
        if self.family == "bars":
            return bars_topic(self.symbol, self.resolution)
        if self.family == "quotes":
            return quotes_topic(self.symbol)
        return None


def bars_topic(symbol: str, resolution: str) -> str:
    return f"bars:{symbol}:{resolution}"


def quotes_topic(symbol: str) -> str:
    return f"quotes:{symbol}"


def load(raw: str | bytes, *, max_bytes: int, loads=json.loads) -> object:
    """The decoded frame ``raw`` (JSON, text or binary).

    :raises FrameRefused: ``ws.frame_too_large`` past ``max_bytes``, ``ws.bad_frame`` when it
        does not decode.
    """
    if len(raw) > max_bytes:
        raise FrameRefused(FRAME_TOO_LARGE, f"Frames are limited to {max_bytes} bytes.")
    try:
        return loads(raw)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise FrameRefused(BAD_FRAME, f"The frame does not decode: {str(exc)[:200]}.") from None


def parse(frame: object) -> Request:
    """The request ``frame`` asks for, checked field by field.

    :raises FrameRefused: ``ws.bad_frame`` (not an object, a bad id or data, a malformed symbol),
        ``ws.unknown_type``, ``marketdata.bad_resolution``.
    """
    if not isinstance(frame, dict):
        raise FrameRefused(BAD_FRAME, "A frame is a JSON object with a type.")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise FrameRefused(BAD_FRAME, "A frame needs a type (a string).")
    request_id = frame.get("id")
    if request_id is not None and (not isinstance(request_id, str) or not 0 < len(request_id) <= _MAX_ID_CHARS):
        raise FrameRefused(BAD_FRAME, f"id is a string of 1 to {_MAX_ID_CHARS} characters.")
    if kind not in KNOWN_TYPES:
        raise FrameRefused(UNKNOWN_TYPE, f"Unknown frame type {kind[:40]!r}: use one of {', '.join(KNOWN_TYPES)}.")
    if kind == "ping":
        return Request(kind, request_id)
    if request_id is None:
        raise FrameRefused(BAD_FRAME, f"{kind} needs an id (a string) to answer to.")
    data = frame.get("data")
    if not isinstance(data, dict):
        raise FrameRefused(BAD_FRAME, f"{kind} needs data (an object).", kind=kind, request_id=request_id)
    symbol = data.get("symbol")
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol.strip().upper()):
        raise FrameRefused(
            BAD_SYMBOL, "data.symbol is a symbol such as AAPL (1 to 32 letters, digits, space, . / -).",
            kind=kind, request_id=request_id,
        )  # fmt: skip
    symbol = symbol.strip().upper()
    if kind.startswith("quotes."):
        return Request(kind, request_id, symbol)
    try:
        resolution = parse_resolution(data.get("resolution")).code
    except BadResolution as exc:
        raise FrameRefused(BadResolution.code, str(exc), kind=kind, request_id=request_id) from None
    return Request(kind, request_id, symbol, resolution)


def response(kind: str, request_id: str | None, data: dict) -> dict:
    """The answer to request ``kind`` that succeeded."""
    return {"type": f"{kind}.response", "id": request_id, "data": data}


def refusal(error: FrameRefused) -> dict:
    """The answer to a refused frame: its request's ``*.response`` when it named one, else ``error``."""
    body = {"code": error.code, "message": error.message}
    if error.kind is not None and error.request_id is not None:
        return {"type": f"{error.kind}.response", "id": error.request_id, "error": body}
    return {"type": "error", "error": body}
