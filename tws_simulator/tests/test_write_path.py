"""The write path: no write ends on a 4096-byte boundary (and no message of its own is sent for it),
and the switch that forces the boundary; on a connection's real send(), with a recording transport."""

from __future__ import annotations

import asyncio

from ibapi.comm import read_fields
from ibapi.decoder import Decoder
from ibapi.wrapper import EWrapper

from tws_simulator import Simulator, SimulatorConfig
from tws_simulator import encoder as enc
from tws_simulator.connection import Connection
from tws_simulator.tests.strict import notices, strict_frames, with_a_status
from tws_simulator.wire import stretch
from tws_simulator.writer import TAIL_DELAY


class RecordingTransport:
    """Collects writes (the Connection only calls write/is_closing/abort on its transport)."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return False

    def abort(self) -> None:
        pass


def connection(**config) -> tuple[Connection, RecordingTransport]:
    sim = Simulator(SimulatorConfig(port=0, **config))
    conn = Connection(sim)
    transport = RecordingTransport()
    conn.transport = transport  # type: ignore[assignment]
    conn.state = "ready"
    return conn, transport


def run_loop(conn: Connection, seconds: float) -> None:
    conn.sim.loop.run_until_complete(asyncio.sleep(seconds))


class Capture(EWrapper):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple] = []

    def error(self, reqId, errorCode, errorString) -> None:
        self.calls.append(("error", reqId, errorCode, errorString))

    def orderStatus(self, orderId, status, filled, remaining, avgFillPrice, permId, *rest) -> None:
        self.calls.append(("orderStatus", orderId, status, filled, remaining, avgFillPrice, permId, *rest))


def decoded(data: bytes) -> list[tuple]:
    """What ibapi 9.81's decoder makes of ``data`` (every frame, in order); strict framing checked first."""
    messages, rest = strict_frames(data)
    assert rest == b""
    wrapper = Capture()
    decoder = Decoder(wrapper, 157)
    pos = 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        decoder.interpret(read_fields(data[pos + 4 : pos + 4 + size]))
        pos += 4 + size
    assert len(wrapper.calls) == len(messages)
    return wrapper.calls


def test_a_burst_of_4096_bytes_with_a_float_field_leaves_one_byte_longer_in_one_write_with_the_same_values():
    conn, transport = connection()
    burst = with_a_status(4096)
    assert sum(map(len, burst)) == 4096
    conn.send(burst)
    assert [len(w) for w in transport.writes] == [4097]
    assert decoded(transport.writes[0]) == decoded(b"".join(burst))


def test_a_burst_of_8192_bytes_without_a_float_field_leaves_in_two_writes_off_the_boundary():
    conn, transport = connection()
    burst = notices(8192, count=40)
    conn.send(burst)
    assert len(transport.writes) == 1 and len(transport.writes[0]) % 4096
    run_loop(conn, TAIL_DELAY * 2)
    assert len(transport.writes) == 2 and len(transport.writes[1]) % 4096
    assert b"".join(transport.writes) == b"".join(burst)
    assert strict_frames(transport.writes[0])[1] == b""  # cut between frames, not inside one


def test_what_is_sent_while_the_tail_waits_follows_it_and_is_checked_with_it():
    conn, transport = connection()
    first = notices(4096)
    conn.send(first)
    follow = [enc.current_time(1_700_000_000)]
    conn.send(follow)
    assert len(transport.writes) == 1
    run_loop(conn, TAIL_DELAY * 2)
    assert b"".join(transport.writes) == b"".join(first + follow)
    assert all(len(w) % 4096 for w in transport.writes)


def test_a_single_frame_of_4096_bytes_is_cut_inside_it_and_still_arrives_whole():
    conn, transport = connection()
    burst = notices(4096, count=1)
    conn.send(burst)
    run_loop(conn, TAIL_DELAY * 2)
    assert [len(w) for w in transport.writes] == [4095, 1]
    assert decoded(b"".join(transport.writes)) == decoded(burst[0])


def test_without_the_guard_the_burst_goes_out_as_is():
    conn, transport = connection(guard_4096=False)
    conn.send(notices(8192, count=40))
    assert [len(w) for w in transport.writes] == [8192]


def test_other_bursts_are_left_alone():
    conn, transport = connection()
    burst = with_a_status(5000)
    conn.send(burst)
    assert transport.writes == [b"".join(burst)]


def test_forcing_makes_every_burst_with_a_float_field_end_on_the_boundary_with_the_same_values():
    conn, transport = connection()
    conn.sim.faults.force_4096 = True
    bursts = [with_a_status(size) for size in (300, 4095, 4097, 9000)]
    for burst in bursts:
        conn.send(burst)
    assert [len(w) for w in transport.writes] == [4096, 4096, 8192, 12288]
    for write, burst in zip(transport.writes, bursts, strict=True):
        assert decoded(write) == decoded(b"".join(burst))


def test_forcing_leaves_a_burst_without_a_float_field_as_it_is():
    conn, transport = connection()
    conn.sim.faults.force_4096 = True
    conn.send([enc.current_time(1_700_000_000)])
    assert transport.writes == [enc.current_time(1_700_000_000)]


def test_stretch_only_touches_a_plain_decimal_float_slot():
    unset = enc.commission_report(exec_id="e.1", commission=1.0, currency="USD", realized_pnl=None)
    assert stretch(enc.current_time(1), 1) is None
    grown = stretch(unset, 3)
    assert grown is not None and len(grown) == len(unset) + 3
    assert strict_frames(grown)[0][0][3] == "1.0000"
