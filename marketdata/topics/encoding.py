"""How frames travel: JSON text (subprotocol ``tc.json`` or none) or msgpack binary (``tc.msgpack``)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import msgpack

JSON = "tc.json"
MSGPACK = "tc.msgpack"


@dataclass(frozen=True, slots=True)
class Codec:
    """One encoding: ``dumps`` gives the WebSocket frame's payload, ``binary`` says which kind of frame."""

    name: str
    binary: bool

    def dumps(self, frame: dict) -> str | bytes:
        if self.binary:
            return msgpack.packb(frame, use_bin_type=True)
        return json.dumps(frame, separators=(",", ":"))

    def loads(self, raw: str | bytes) -> object:
        """Decode a client frame; raises ``ValueError`` (or msgpack's errors) when it does not decode."""
        if isinstance(raw, bytes) and self.binary:
            return msgpack.unpackb(raw, raw=False, strict_map_key=True)
        return json.loads(raw)


JSON_CODEC = Codec(JSON, binary=False)
MSGPACK_CODEC = Codec(MSGPACK, binary=True)


def chosen(offered: list[str]) -> tuple[Codec, str | None]:
    """The codec for the subprotocols the client offered, and the subprotocol to accept (None: none asked)."""
    if MSGPACK in offered:
        return MSGPACK_CODEC, MSGPACK
    if JSON in offered:
        return JSON_CODEC, JSON
    return JSON_CODEC, None
