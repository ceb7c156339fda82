"""TWS socket framing: field encoding, length-prefixed frames, the handshake prefix, and frame cutting."""

from __future__ import annotations

import re
import struct

SERVER_VERSION = 157
# The largest frame the ibapi client accepts (MAX_MSG_LEN); a client frame larger than this is hostile.
MAX_FRAME = 0xFFFFFF
API_PREFIX = b"API\0"
# Java's Double.MAX_VALUE as real TWS writes an unset double; Python float() maps it to sys.float_info.max.
UNSET_DOUBLE_TEXT = "1.7976931348623157E308"
UNSET_INTEGER = 2**31 - 1
_VERSION_RE = re.compile(r"^v(\d+)\.\.(\d+)(?: (.*))?$")
_LEN = struct.Struct("!I")


class FrameError(Exception):
    """A client sent bytes that cannot be framed (oversize length, broken handshake)."""


def field(value: object) -> str:
    """Return the wire text of one field: bools as 1/0, ints as decimal, floats with repr, text as is.

    :raises ValueError: a string is not printable ASCII (the 157 decoder unicode-escapes text fields).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if not text.isascii() or "\0" in text:
        raise ValueError(f"field is not plain ASCII: {text!r}")
    return text


def frame(fields: list[str] | tuple[str, ...]) -> bytes:
    """Return one framed message: uint32 big-endian length, then each field NUL-terminated."""
    payload = ("\0".join(fields) + "\0").encode("ascii")
    return _LEN.pack(len(payload)) + payload


def frame_values(*values: object) -> bytes:
    """Encode ``values`` with :func:`field` and frame them."""
    return frame([field(v) for v in values])


# Message id -> index of a field that ibapi 9.81 and 10.x (and any TWS client) decode as a float: strike
# (always 0.0 for stocks), tickPrice's price, orderStatus' mktCapPrice, a commission. More zeros after its
# decimal point change no value, so the write path uses it to move a burst's length without a message of
# its own (an id-0 pad frame is a decoding error for strict clients).
FLOAT_SLOTS: dict[bytes, int] = {b"1": 4, b"3": 11, b"5": 6, b"11": 7, b"45": 4, b"59": 3, b"61": 7}
_DECIMAL = re.compile(rb"-?[0-9]+\.[0-9]+")


def frame_starts(data: bytes, start: int = 0) -> list[int]:
    """Return the offset of every whole frame in ``data`` from ``start`` (a frame boundary) on."""
    out: list[int] = []
    pos = start
    while pos + 4 <= len(data):
        out.append(pos)
        pos += 4 + _LEN.unpack_from(data, pos)[0]
    return out


def stretch(data: bytes, extra: int, start: int = 0) -> bytes | None:
    """Return ``data`` ``extra`` bytes longer, the slack carried as trailing zeros of one float field.

    ``start`` is the offset of the first whole frame (bytes before it belong to a frame already cut).
    Returns None when no frame of ``data`` has a field of :data:`FLOAT_SLOTS` in plain decimal form.
    """
    for pos in frame_starts(data, start):
        (size,) = _LEN.unpack_from(data, pos)
        end = pos + 4 + size
        payload = data[pos + 4 : end]
        slot = FLOAT_SLOTS.get(payload[: payload.find(b"\0")])
        if slot is None:
            continue
        fields = payload.split(b"\0")
        if slot < len(fields) - 1 and _DECIMAL.fullmatch(fields[slot]):
            fields[slot] += b"0" * extra
            grown = b"\0".join(fields)
            return data[:pos] + _LEN.pack(len(grown)) + grown + data[end:]
    return None


def split_point(data: bytes, start: int = 0) -> int:
    """Where to cut ``data`` so that neither part ends on a 4096-byte boundary.

    The start of the last frame whose offset is off the boundary, else one byte before the end.
    """
    for pos in reversed(frame_starts(data, start)):
        if pos > 0 and pos % 4096:
            return pos
    return len(data) - 1


def parse_version_string(text: str) -> tuple[int, int, str]:
    """Parse the client's ``v{min}..{max}[ options]`` string.

    :raises FrameError: the text is not in that form.
    """
    match = _VERSION_RE.match(text)
    if not match:
        raise FrameError(f"bad version string {text!r}")
    return int(match.group(1)), int(match.group(2)), match.group(3) or ""


class FrameReader:
    """Cut a byte stream into frame payloads, holding partial frames between reads."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Append ``data`` and return every complete payload it finished.

        :raises FrameError: a length prefix is larger than :data:`MAX_FRAME`.
        """
        buf = self._buf
        buf += data
        out: list[bytes] = []
        pos = 0
        end = len(buf)
        while end - pos >= 4:
            (size,) = _LEN.unpack_from(buf, pos)
            if size > MAX_FRAME:
                raise FrameError(f"frame of {size} bytes is over the limit")
            if end - pos - 4 < size:
                break
            out.append(bytes(buf[pos + 4 : pos + 4 + size]))
            pos += 4 + size
        if pos:
            del buf[:pos]
        return out

    def take_rest(self) -> bytes:
        """Return and clear whatever is buffered (used when the handshake switches framing)."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest


def split_fields(payload: bytes) -> list[str]:
    """Return the fields of a payload as text (latin-1 never fails, so hostile bytes cannot raise)."""
    parts = payload.decode("latin-1").split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def handshake_reply(connection_time: str) -> bytes:
    """The handshake reply: exactly two fields, the server version and the connection time."""
    return frame([str(SERVER_VERSION), connection_time])
