"""Brackets: a bracket's three placeOrders reach the simulator within 5 ms of each other (p99).

Runs the real worker (``python -m execution_worker``, a subprocess) against the simulator over a
socket, as ``worker_latency`` does. Brackets (entry + take-profit + stop-loss, one ``order.place``
with ``children``) are sent at 8 a second; for each, the spread is the time between the first and
the last of its three placeOrder frames as the simulator read them (ledger ``arrived_ns``).
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

from bench.bench_worker_latency import _Rig, _run_at, _wait
from bench.report import Figure, latency_figures
from execution_worker import messages as m

RATE = 8.0
BRACKETS = 160
WARMUP = 10


def _bracket(i: int) -> dict:
    quantity = Decimal(1 + i % 500)
    # The entry rests far under the market, so the children stay inactive (one report each).
    return {
        "client_order_id": str(uuid.uuid4()),
        "account": "DU0000001",
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": quantity,
        "order_type": "LMT",
        "limit_price": Decimal("100") + Decimal(i // 500) / 100,
        "children": (
            {
                "client_order_id": str(uuid.uuid4()),
                "side": "SELL",
                "quantity": quantity,
                "order_type": "LMT",
                "limit_price": Decimal("300"),
            },
            {
                "client_order_id": str(uuid.uuid4()),
                "side": "SELL",
                "quantity": quantity,
                "order_type": "STP",
                "stop_price": Decimal("50"),
            },
        ),
    }


def main() -> list[Figure]:
    rig = _Rig()
    try:
        sent: list[m.OrderPlace] = []
        _run_at(RATE, WARMUP + BRACKETS, lambda i: sent.append(rig.send(_bracket(i))))
        refs = [(o.client_order_id, *(c["client_order_id"] for c in o.children)) for o in sent[WARMUP:]]
        wanted = {ref for chain in refs for ref in chain}

        def arrived():
            frames = {p["order_ref"]: p["arrived_ns"] for p in rig.sim.ledger.snapshot()["place_orders"]}
            return frames if wanted <= set(frames) else None

        frames = _wait(arrived, 30, "every bracket at the simulator")
        spreads = []
        for chain in refs:
            stamps = [frames[ref] for ref in chain]
            spreads.append((max(stamps) - min(stamps)) / 1e6)
        time.sleep(0.2)
        figures = latency_figures("bracket placeOrder spread", spreads, {"p99": 5.0})
        figures.append(Figure("brackets measured", len(spreads), "brackets"))
        return figures
    finally:
        rig.close()
