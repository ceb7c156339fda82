"""The JSON-lines control port mirrors the Python control API."""

from __future__ import annotations

import json
import socket

from tws_simulator.control import COMMANDS
from tws_simulator.tests.client import connect, disconnect, order, stock


def ask(port: int, **request) -> dict:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall((json.dumps(request) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            assert chunk, "control port closed"
            data += chunk
    return json.loads(data)


def test_every_control_method_is_a_command():
    assert {"ledger", "drop_connections", "reject_next_order", "restart", "set_price", "inject_external_fill"} <= set(
        COMMANDS
    )


def test_commands_act_on_the_simulator_and_the_ledger_comes_back_as_json(make_sim):
    sim = make_sim(control_port=0)
    app = connect(sim.port, 3)
    try:
        assert ask(sim.control_port, cmd="set_price", symbol="AAPL", price=50.0)["result"]["ask"] == 50.01
        assert ask(sim.control_port, cmd="reject_next_order", reason="No Trading Permission") == {
            "ok": True,
            "result": None,
        }
        app.placeOrder(1, stock("AAPL"), order("BUY", 5, ref="r-1"))
        app.wait_for(lambda e: e[0] == "error" and e[1][1] == 201)
        ledger = ask(sim.control_port, cmd="ledger")["result"]
        assert [(p["order_id"], p["order_ref"], p["client_id"]) for p in ledger["place_orders"]] == [(1, "r-1", 3)]
        assert isinstance(ledger["place_orders"][0]["arrived_ns"], int)
        assert ask(sim.control_port, cmd="drop_connections")["result"] == 1
        assert app.closed.wait(3)
    finally:
        disconnect(app)


def test_the_mid_chain_drop_is_a_command_too(make_sim):
    sim = make_sim(control_port=0)
    app = connect(sim.port, 3)
    try:
        assert ask(sim.control_port, cmd="drop_mid_chain", after=1) == {"ok": True, "result": None}
        held = order("BUY", 5)
        held.transmit = False
        app.placeOrder(1, stock("AAPL"), held)
        assert app.closed.wait(3)
        assert ask(sim.control_port, cmd="drop_after_orders", count=0)["ok"] is False
    finally:
        disconnect(app)


def test_bad_command_lines_get_an_error_line_and_the_port_keeps_serving(make_sim):
    sim = make_sim(control_port=0)
    with socket.create_connection(("127.0.0.1", sim.control_port), timeout=5) as sock:
        reader = sock.makefile("rb")
        for line in (b"not json\n", b'{"cmd": "nope"}\n', b'{"cmd": "set_price", "symbol": "NOPE", "price": 1}\n'):
            sock.sendall(line)
            answer = json.loads(reader.readline())
            assert answer["ok"] is False and answer["error"]
        sock.sendall(b'{"cmd": "state"}\n')
        assert json.loads(reader.readline())["result"]["clients"] == []
