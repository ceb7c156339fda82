"""Hostile bytes never stop the simulator: the offending connection gets TWS's answer or is closed, others carry on."""

from __future__ import annotations

import logging
import socket
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tws_simulator import SimulatorConfig
from tws_simulator.tests.client import order, stock
from tws_simulator.wire import frame


@pytest.fixture
def sim_config() -> SimulatorConfig:
    """Pacing off: the fuzz examples probe the same long-lived client many times a second."""
    return SimulatorConfig(port=0, market_interval=0, account_summary_interval=0, pacing_rate=0)


def raw_session(port: int, client_id: int) -> socket.socket:
    """A hand-made client past the handshake (START_API sent, setup messages drained)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=3)
    version = b"v100..157"
    sock.sendall(b"API\0" + struct.pack("!I", len(version)) + version)
    read_frame(sock)
    sock.sendall(frame(["71", "2", str(client_id), ""]))
    return sock


def read_frame(sock: socket.socket) -> list[str]:
    head = recv_exact(sock, 4)
    body = recv_exact(sock, struct.unpack("!I", head)[0])
    return body.decode("latin-1").split("\0")[:-1]


def recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_until(sock: socket.socket, msg_id: str, limit: int = 50) -> list[str]:
    """Return the next message ``msg_id``, skipping farm notices (errors 2100+) on the way."""
    for _ in range(limit):
        fields = read_frame(sock)
        if fields[0] == msg_id and not (msg_id == "4" and int(fields[3]) >= 2100):
            return fields
    raise AssertionError(f"no message {msg_id}")


def test_a_client_that_does_not_speak_api_is_closed_and_others_keep_working(sim, app):
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=3)
    sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
    assert sock.recv(100) == b""
    app.reqCurrentTime()
    app.wait_name("currentTime")


def test_a_version_range_without_157_is_closed(sim):
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=3)
    version = b"v158..176"
    sock.sendall(b"API\0" + struct.pack("!I", len(version)) + version)
    assert sock.recv(100) == b""


def test_an_oversize_frame_closes_only_that_connection(sim, app):
    sock = raw_session(sim.port, 50)
    read_until(sock, "9")
    sock.sendall(struct.pack("!I", 0x1000000) + b"x" * 16)
    sock.settimeout(3)
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    app.reqCurrentTime()
    app.wait_name("currentTime")


def test_bad_numbers_get_error_320_and_unknown_message_ids_error_321(sim):
    sock = raw_session(sim.port, 51)
    read_until(sock, "9")
    sock.sendall(frame(["4", "1", "notanumber"]))
    err = read_until(sock, "4")
    assert err[3] == "320" and "notanumber" in err[4]
    sock.sendall(frame(["999", "1", "x"]) + frame(["abc"]) + frame([]) + frame(["49", "1"]))
    assert read_until(sock, "4")[3:] == ["321", "Error validating request.-'bX' : cause - Unknown message id: 999"]
    assert read_until(sock, "4")[3:] == ["321", "Error validating request.-'bX' : cause - Unknown message id: abc"]
    assert read_until(sock, "49")[0] == "49"
    sock.sendall(frame(["3", "2147483648"] + [""] * 40))
    err = read_until(sock, "4")
    assert err[3] == "320" and "2147483648" in err[4]
    sock.close()


def test_a_truncated_place_order_is_refused_without_harm(sim, app):
    sock = raw_session(sim.port, 52)
    read_until(sock, "9")
    sock.sendall(frame(["3", "1", "0", "AAPL"]))
    assert read_until(sock, "4")[3] == "320"
    place = (
        ["3", "2", "0", "AAPL", "STK"] + [""] * 4 + ["SMART", "", "USD"] + [""] * 4 + ["BUY", "1", "MKT"] + [""] * 90
    )
    place[26] = "caf\u00e9"
    sock.sendall(raw_frame(place))
    assert read_until(sock, "4")[3] == "321"
    app.placeOrder(1, stock("AAPL"), order("BUY", 1))
    app.wait_for(lambda e: e[0] == "orderStatus" and e[1][1] == "Filled")


def raw_frame(fields: list[str]) -> bytes:
    """Frame text that may hold any byte (the simulator's own encoder refuses non-ASCII)."""
    payload = ("\0".join(fields) + "\0").encode("latin-1")
    return struct.pack("!I", len(payload)) + payload


field_text = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), max_size=12),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.floats(allow_nan=True).map(repr),
    st.sampled_from(["", "1.7976931348623157e+308", "BUY", "SELL", "LMT", "MKT", "AAPL", "STK", "BAG", "-1", "0"]),
)
known_ids = st.sampled_from(
    ["1", "2", "3", "4", "5", "7", "8", "15", "16", "17", "49", "58", "59", "61", "62", "63", "64", "71"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    messages=st.lists(
        st.one_of(
            st.tuples(known_ids, st.lists(field_text, max_size=120)).map(lambda t: raw_frame([t[0], *t[1]])),
            st.binary(max_size=64),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_random_frames_never_crash_the_simulator_or_disturb_other_clients(sim, app, caplog, messages):
    sock = raw_session(sim.port, 60)
    try:
        for message in messages:
            sock.sendall(message)
    except OSError:
        pass  # the simulator may close a connection that sent garbage
    finally:
        sock.close()
    mark = app.mark()
    app.reqCurrentTime()
    app.wait_name("currentTime", start=mark)
    assert sim._thread.is_alive()
    failures = [r for r in caplog.records if r.name.startswith("tws_simulator") and r.levelno >= logging.ERROR]
    assert not failures, failures[0].getMessage()
    # let the fuzz connection go so clientId 60 is free for the next example
    from tws_simulator.tests.client import wait_gone

    wait_gone(sim, 60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(opening=st.one_of(st.binary(max_size=80), st.binary(max_size=40).map(lambda b: b"API\0" + b)))
def test_random_bytes_instead_of_a_handshake_never_crash_the_simulator(sim, app, caplog, opening):
    sock = socket.create_connection(("127.0.0.1", sim.port), timeout=3)
    try:
        sock.sendall(opening)
    except OSError:
        pass
    finally:
        sock.close()
    mark = app.mark()
    app.reqCurrentTime()
    app.wait_name("currentTime", start=mark)
    failures = [r for r in caplog.records if r.name.startswith("tws_simulator") and r.levelno >= logging.ERROR]
    assert not failures, failures[0].getMessage()


def _real_place_order_fields() -> list[str]:
    """The 110 fields ibapi 9.81 sends for a plain limit order, captured from EClient itself."""
    from ibapi.client import EClient

    captured: list[bytes] = []

    class Capture:
        def sendMsg(self, msg: bytes) -> None:
            captured.append(msg)

        def isConnected(self) -> bool:
            return True

    client = EClient(None)
    client.serverVersion_ = 157
    client.connState = EClient.CONNECTED
    client.conn = Capture()
    client.placeOrder(1, stock("AAPL"), order("BUY", 100, "LMT", 10.0, ref="fuzz"))
    return captured[0][4:].decode("ascii").split("\0")[:-1]


PLACE_ORDER = _real_place_order_fields()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(min_value=1, max_value=len(PLACE_ORDER) - 1), field_text), max_size=6),
    cut=st.integers(min_value=1, max_value=len(PLACE_ORDER)),
)
def test_place_orders_with_random_field_values_are_answered_or_refused_never_fatal(sim, app, caplog, edits, cut):
    fields = list(PLACE_ORDER)
    for index, value in edits:
        fields[index] = value
    sock = raw_session(sim.port, 61)
    try:
        read_until(sock, "9")
        sock.sendall(raw_frame(fields[:cut]) + raw_frame(["49", "1"]))
        read_until(sock, "49")  # the connection still answers after whatever the order did
    finally:
        sock.close()
    assert PLACE_ORDER[0] == "3" and len(PLACE_ORDER) == 110
    failures = [r for r in caplog.records if r.name.startswith("tws_simulator") and r.levelno >= logging.ERROR]
    assert not failures, failures[0].getMessage()
    mark = app.mark()
    app.reqCurrentTime()
    app.wait_name("currentTime", start=mark)
    from tws_simulator.tests.client import wait_gone

    wait_gone(sim, 61)
