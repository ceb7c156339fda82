"""Simulator throughput: orders placed and acknowledged per second by one real ibapi EClient.

The simulator runs as its own process (``python -m tws_simulator``, pacing disabled, frozen market,
no PreSubmitted step so each order is acknowledged by one openOrder + orderStatus); one EClient
without +PACEAPI places limit orders that rest, keeping at most WINDOW unacknowledged, and the clock
stops when the last orderStatus(Submitted) has been decoded. The goal (>= 2,000/s) keeps the
simulator from being what a benchmark of the worker measures. A second figure feeds the same
placeOrder bytes straight into a simulator connection: the simulator's own capacity. Bounded: N
orders or 30 s.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time

from ibapi.client import EClient
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.wrapper import EWrapper

from bench.report import Figure, percentile

ORDERS = 5000
TIME_LIMIT = 30.0
# At most this many orders unacknowledged: ibapi's EReader re-slices its whole receive buffer per message
# (quadratic in the backlog), so an unbounded burst would measure the client's reader, not the simulator.
WINDOW = 50
SIM_OPTIONS: list[str] = ["--no-presubmitted"]
GOAL_PER_SECOND = 2000.0


class _Client(EWrapper, EClient):
    def __init__(self, expected: int) -> None:
        EWrapper.__init__(self)
        EClient.__init__(self, wrapper=self)
        self.expected = expected
        self.acked: dict[int, int] = {}
        self.window = threading.Semaphore(WINDOW)
        self.all_acked = threading.Event()
        self.ready = threading.Event()
        self.next_id = 0

    def nextValidId(self, orderId: int) -> None:
        self.next_id = orderId
        self.ready.set()

    def openOrder(self, orderId, contract, order, orderState) -> None:
        """Overridden: EWrapper's default logs every callback through inspect.stack(), which is slow."""

    def orderStatus(self, orderId, status, *rest) -> None:
        if status == "Submitted" and orderId not in self.acked:
            self.acked[orderId] = time.perf_counter_ns()
            self.window.release()
            if len(self.acked) >= self.expected:
                self.all_acked.set()

    def error(self, reqId, errorCode, errorString) -> None:
        if errorCode < 2100:
            print(f"   simulator error {reqId} {errorCode} {errorString}", file=sys.stderr)


def _start_simulator() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tws_simulator",
            "--port",
            "0",
            "--pacing-rate",
            "0",
            "--market-interval",
            "0",
            "--account-summary-interval",
            "0",
            "--log-level",
            "WARNING",
            *SIM_OPTIONS,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(15)
    match = re.search(r":(\d+)", line[0]) if line else None
    if not match:
        proc.kill()
        raise RuntimeError("simulator did not start")
    return proc, int(match.group(1))


def _order(i: int) -> Order:
    o = Order()
    o.action = "BUY"
    o.totalQuantity = 100
    o.orderType = "LMT"
    o.lmtPrice = 1.00  # far below the market: the order rests, so each one is a pure acknowledgement
    o.orderRef = f"bench-{i}"
    o.eTradeOnly = False
    o.firmQuoteOnly = False
    return o


def run_once(n: int = ORDERS) -> tuple[float, list[float]]:
    """Return (orders acknowledged per second, per-order place->Submitted latencies in ms)."""
    proc, port = _start_simulator()
    client = _Client(n)
    try:
        connected = threading.Event()
        threading.Thread(target=lambda: (client.connect("127.0.0.1", port, 1), connected.set()), daemon=True).start()
        if not connected.wait(10):
            raise RuntimeError("connect() did not return")
        threading.Thread(target=client.run, daemon=True).start()
        if not client.ready.wait(10):
            raise RuntimeError("no nextValidId")
        contract = Contract()
        contract.symbol, contract.secType, contract.exchange, contract.currency = "AAPL", "STK", "SMART", "USD"
        orders = [_order(i) for i in range(n)]
        first = client.next_id
        sent: dict[int, int] = {}
        started = time.perf_counter_ns()
        deadline = time.monotonic() + TIME_LIMIT
        for i, o in enumerate(orders):
            if not client.window.acquire(timeout=max(0.0, deadline - time.monotonic())):
                break
            sent[first + i] = time.perf_counter_ns()
            client.placeOrder(first + i, contract, o)
            if time.monotonic() > deadline:
                break
        client.all_acked.wait(max(0.0, deadline - time.monotonic()))
        finished = max(client.acked.values(), default=started)
        acked = len(client.acked)
        rate = acked / ((finished - started) / 1e9) if acked else 0.0
        latencies = [(client.acked[k] - sent[k]) / 1e6 for k in client.acked if k in sent]
        return rate, latencies
    finally:
        client.disconnect()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def simulator_capacity(n: int = ORDERS) -> float:
    """Orders/s the simulator itself handles: real placeOrder bytes from EClient fed through one connection.

    No sockets and no client decoding: this is the simulator's share of the end-to-end figure.
    """
    from tws_simulator import Simulator, SimulatorConfig
    from tws_simulator.connection import Connection

    frames: list[bytes] = []

    class _Capture:
        def sendMsg(self, msg: bytes) -> None:
            frames.append(msg)

        def isConnected(self) -> bool:
            return True

    encoder = EClient(None)
    encoder.serverVersion_ = 157
    encoder.connState = EClient.CONNECTED
    encoder.conn = _Capture()
    contract = Contract()
    contract.symbol, contract.secType, contract.exchange, contract.currency = "AAPL", "STK", "SMART", "USD"
    for i in range(n):
        encoder.placeOrder(i + 1, contract, _order(i))

    class _Sink:
        def write(self, data: bytes) -> None:
            pass

        def is_closing(self) -> bool:
            return False

    sim = Simulator(SimulatorConfig(port=0, pacing_rate=0, market_interval=0, presubmitted=False))
    conn = Connection(sim)
    conn.transport = _Sink()  # type: ignore[assignment]
    conn.state = "ready"
    conn.client_id = 1
    sim.engine.sessions[1] = conn
    started = time.perf_counter()
    for msg in frames:
        conn.data_received(msg)
    return n / (time.perf_counter() - started)


def main() -> list[Figure]:
    rate, latencies = run_once()
    return [
        Figure("sim orders acknowledged/s (one EClient)", rate, "orders/s", GOAL_PER_SECOND, higher_is_better=True),
        Figure("sim place->Submitted p50 (window of 50 in flight)", percentile(latencies, 0.5), "ms"),
        Figure("sim processing capacity (no client, no socket)", simulator_capacity(), "orders/s"),
    ]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
