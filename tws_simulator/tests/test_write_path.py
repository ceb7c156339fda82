"""The write path: the 4096-byte boundary guard and its forcing switch, on a connection's real send()."""

from __future__ import annotations

from tws_simulator import Simulator, SimulatorConfig
from tws_simulator.connection import Connection
from tws_simulator.wire import pad_frame


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


def test_a_burst_ending_on_a_4096_boundary_is_padded_off_it():
    conn, transport = connection()
    conn.send([pad_frame(4000), pad_frame(96)])
    assert len(transport.writes[0]) == 4096 + 6


def test_without_the_guard_the_burst_goes_out_as_is():
    conn, transport = connection(pad_4096=False)
    conn.send([pad_frame(8192)])
    assert len(transport.writes[0]) == 8192


def test_other_bursts_are_left_alone():
    conn, transport = connection()
    conn.send([pad_frame(100)])
    assert len(transport.writes[0]) == 100


def test_forcing_pads_every_burst_onto_the_boundary():
    conn, transport = connection()
    conn.sim.faults.force_4096 = True
    for size in (6, 100, 4091, 4093, 5000):
        conn.send([pad_frame(size)])
    assert [len(w) % 4096 for w in transport.writes] == [0] * 5
    assert all(len(w) >= 4096 for w in transport.writes)
