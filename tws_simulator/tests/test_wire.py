"""Framing: frames survive any split of the byte stream, and the simulator's text rules hold."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tws_simulator.wire import FrameError, FrameReader, field, frame, parse_version_string, split_fields


@given(
    messages=st.lists(st.lists(st.text(alphabet="abcXYZ0123456789.-", max_size=8), min_size=1, max_size=6), max_size=8),
    cuts=st.lists(st.integers(min_value=1, max_value=7), max_size=40),
)
def test_frames_are_cut_out_whatever_the_read_boundaries(messages, cuts):
    stream = b"".join(frame(m) for m in messages)
    reader = FrameReader()
    got: list[list[str]] = []
    pos = 0
    for cut in cuts:
        got += [split_fields(p) for p in reader.feed(stream[pos : pos + cut])]
        pos += cut
    got += [split_fields(p) for p in reader.feed(stream[pos:])]
    assert got == messages


def test_a_frame_longer_than_the_ibapi_limit_is_refused():
    with pytest.raises(FrameError):
        FrameReader().feed(b"\x01\x00\x00\x00")


def test_version_strings_with_and_without_connect_options():
    assert parse_version_string("v100..157") == (100, 157, "")
    assert parse_version_string("v100..157 +PACEAPI") == (100, 157, "+PACEAPI")
    with pytest.raises(FrameError):
        parse_version_string("x100..157")


def test_fields_are_encoded_as_ibapi_encodes_them():
    assert [field(True), field(False), field(7), field(1.5), field(None), field("AAPL")] == [
        "1",
        "0",
        "7",
        "1.5",
        "",
        "AAPL",
    ]
    with pytest.raises(ValueError):
        field("a\0b")
