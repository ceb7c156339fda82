"""The ibapi adapter: callbacks never raise into ibapi's loop; connect gives up under its watchdog."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from execution_worker.broker import SafeWrapper, make_order, open_connection


class _Handler:
    """Records what reached it; ``on_error`` fails like a buggy handler would."""

    def __init__(self) -> None:
        self.seen: list[tuple] = []

    def on_nextValidId(self, generation, order_id):
        self.seen.append(("nextValidId", generation, order_id))

    def on_error(self, generation, req_id, code, text):
        raise RuntimeError("handler bug")


def test_a_failing_callback_is_logged_and_never_raised_into_ibapi(caplog):
    wrapper = SafeWrapper(_Handler(), generation=3)
    wrapper.error(-1, 2104, "Market data farm connection is OK:usfarm")
    assert "callback error failed" in caplog.text
    wrapper.nextValidId(12)
    assert wrapper._handler.seen == [("nextValidId", 3, 12)]


def test_connect_to_a_closed_port_fails_fast():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ConnectionError):
        open_connection(_Handler(), 1, "127.0.0.1", port, 7, timeout=2.0)
    assert time.monotonic() - started < 2.0


def test_connect_to_a_server_that_never_answers_the_handshake_gives_up_after_the_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionError, match="no handshake"):
            open_connection(_Handler(), 1, "127.0.0.1", listener.getsockname()[1], 7, timeout=0.5)
        assert time.monotonic() - started < 3.0
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


def test_orders_are_built_with_the_attributes_tws_rejects_switched_off():
    order = make_order(
        client_order_id="6f1c2d3e-0000-4000-8000-000000000001",
        account="DU1",
        side="SELL",
        quantity="12.5",
        order_type="STP LMT",
        limit_price="99.5",
        stop_price="100",
        tif="GTC",
        outside_rth=True,
        oca_group="g1",
    )
    assert (order.eTradeOnly, order.firmQuoteOnly) == (False, False)
    assert order.orderRef == "6f1c2d3e-0000-4000-8000-000000000001"
    assert (order.totalQuantity, order.lmtPrice, order.auxPrice, order.ocaGroup) == (12.5, 99.5, 100.0, "g1")
