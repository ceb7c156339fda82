"""A strict TWS client for the tests: raw socket, exact framing, every message id must be one TWS defines.

Unlike ibapi (whose decoders skip an unknown or unset id), this reader fails on message id 0, on an
id ibapi does not know, and on a frame whose payload does not end with a NUL; it reads with a plain
``recv`` loop, so it never loses bytes on a 4096-byte boundary.
"""

from __future__ import annotations

import socket
import struct
import time

from ibapi.message import IN

from tws_simulator import encoder as enc

KNOWN_IDS = {value for name, value in vars(IN).items() if not name.startswith("_") and isinstance(value, int)}


class StrictDecodeError(AssertionError):
    """The server sent something a strict client refuses."""


def strict_frames(data: bytes) -> tuple[list[list[str]], bytes]:
    """Cut ``data`` into messages (lists of fields); return them and the incomplete rest.

    :raises StrictDecodeError: a message id is 0 or unknown, or a payload is not NUL-terminated.
    """
    out: list[list[str]] = []
    pos = 0
    while len(data) - pos >= 4:
        (size,) = struct.unpack_from("!I", data, pos)
        if len(data) - pos - 4 < size:
            break
        payload = data[pos + 4 : pos + 4 + size]
        pos += 4 + size
        if not payload.endswith(b"\0"):
            raise StrictDecodeError(f"payload not NUL-terminated: {payload[:40]!r}")
        fields = payload[:-1].decode("ascii").split("\0")
        if not fields[0].isdigit() or int(fields[0]) not in KNOWN_IDS:
            raise StrictDecodeError(f"message id {fields[0]!r} is not a TWS message")
        out.append(fields)
    return out, data[pos:]


class StrictClient:
    """A raw-socket API client: handshake, START_API, then every message read strictly."""

    def __init__(self, port: int, client_id: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        version = b"v100..157"
        self.sock.sendall(b"API\0" + struct.pack("!I", len(version)) + version)
        self.buffer = b""
        self.messages: list[list[str]] = []
        self.handshaken = False
        deadline = time.monotonic() + timeout
        while not self.messages:
            self._read(deadline)
        handshake = self.messages.pop(0)
        if handshake[0] != "157":
            raise StrictDecodeError(f"handshake {handshake!r}")
        payload = b"71\x002\x00" + str(client_id).encode() + b"\x00\x00"
        self.sock.sendall(struct.pack("!I", len(payload)) + payload)
        self.wait(lambda m: m[0] == "9", timeout)

    def _read(self, deadline: float) -> None:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            return
        if not chunk:
            raise StrictDecodeError("the server closed the connection")
        self.buffer += chunk
        if not self.handshaken:
            # The handshake reply is the one frame whose first field is the server version, not an id.
            if len(self.buffer) < 4 or len(self.buffer) - 4 < struct.unpack_from("!I", self.buffer)[0]:
                return
            size = struct.unpack_from("!I", self.buffer)[0]
            self.messages.append(self.buffer[4 : 4 + size].rstrip(b"\0").decode().split("\0"))
            self.buffer = self.buffer[4 + size :]
            self.handshaken = True
        messages, self.buffer = strict_frames(self.buffer)
        self.messages += messages

    def wait(self, pred, timeout: float = 5.0) -> list[str]:
        """Return the first message matching ``pred``, reading as needed.

        :raises AssertionError: none came within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages:
                if pred(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching message in {timeout}s; got {self.messages[-10:]}")
            self._read(deadline)

    def close(self) -> None:
        self.sock.close()


def notices(total: int, *, count: int = 4) -> list[bytes]:
    """``count`` real error frames (2104 notices, texts ``burst0``...) that add up to exactly ``total`` bytes."""
    frames = [enc.error(-1, 2104, f"burst{i}") for i in range(count - 1)]
    rest = total - sum(map(len, frames)) - len(enc.error(-1, 2104, ""))
    return [*frames, enc.error(-1, 2104, f"burst{count - 1}".ljust(rest, "x"))]


def with_a_status(total: int, *, count: int = 4) -> list[bytes]:
    """An orderStatus (it has a float field) and ``count`` notices, exactly ``total`` bytes."""
    status = enc.order_status(
        order_id=7,
        status="Submitted",
        filled=0.0,
        remaining=100.0,
        avg_fill_price=0.0,
        perm_id=1234567890,
        parent_id=0,
        last_fill_price=0.0,
        client_id=1,
    )
    return [status, *notices(total - len(status), count=count)]
