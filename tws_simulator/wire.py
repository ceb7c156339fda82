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


def pad_frame(size: int) -> bytes:
    """Return a frame of exactly ``size`` bytes (>= 6) that every ibapi decoder ignores.

    Message id 0 has no handler in any ibapi version, so the client drops it without a callback.
    """
    if size < 6:
        raise ValueError("a pad frame needs at least 6 bytes")
    return frame(["0", "x" * (size - 7)]) if size >= 7 else frame(["0"])  # 6 bytes: len(4) + "0\0"


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
