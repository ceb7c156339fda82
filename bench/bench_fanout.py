"""Live pages: XADD of an event on ``{prefix}:events`` -> the row on simulated browsers, and losses.

The real path: ``manage.py stream_bridge --bridge-only`` (subprocess) applies each ``order.status``
event to PostgreSQL through the services and fans the order's row out after the commit; daphne
(subprocess on 127.0.0.1) runs the consumers; this process holds N WebSocket clients that log in
with a session cookie, say hello with their snapshot's cursor, acknowledge frames like the page's
script does, and time each row from the event's producer ``ts`` to its arrival.

Scenarios (goals from issue 5), each bounded in time:
1. 10 dashboards x 100 events/s: p99 <= 20 ms.
2. 100 dashboards x 20 events/s: p50 <= 30 ms, p99 <= 150 ms.
3. 50 dashboards x 100 events/s = 5,000 deliveries/s: zero lost, p99 <= 250 ms.
A loss is a row that never arrived (or a resync/close the server asked for); any loss fails.
Each event updates a different order (the rows cycle through 500 orders), so the 50 ms per-row
merge never hides an update. Both channel layers are measured, each in its own interpreter
(``TC_BENCH_FANOUT_LAYERS=pubsub`` for one); ``TC_BENCH_FANOUT_SECONDS`` sets each run's length.
The scenarios are timed after ``TC_BENCH_FANOUT_WARMUP`` seconds (2) of 10 x 100 ev/s through the
freshly started bridge and daphne, whose figures are printed as the cold start (losses count there too).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import redis

from bench.database import setup_django
from bench.live_rig import (
    free_port,
    live_socket,
    session_cookie,
    start_desk,
    stop_processes,
    submitted_order,
    wipe_prefix,
)
from bench.report import Figure, latency_figures

ROOT = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("TC_BENCH_FANOUT_SECONDS", "8"))
WARMUP = float(os.environ.get("TC_BENCH_FANOUT_WARMUP", "2"))
ORDERS = 500
ACCOUNT = "BEN0000001"
SCENARIOS = [
    # name, dashboards, events/s, goals
    ("10 dashboards x 100 ev/s", 10, 100, {"p99": 20.0}),
    ("100 dashboards x 20 ev/s", 100, 20, {"p50": 30.0, "p99": 150.0}),
    ("50 dashboards x 100 ev/s (5,000 deliveries/s)", 50, 100, {"p99": 250.0}),
]


@dataclass
class Client:
    """One simulated browser: its latencies and what it was told."""

    received: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    resyncs: int = 0
    closed: int | None = None
    last_problem: dict | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)


async def _browser(url: str, cookie: str, cursor: dict, epoch: str, client: Client, stop: asyncio.Event) -> None:
    import websockets

    def on_frame(frame: dict, arrived: int) -> None:
        if frame["t"] == "ready":
            client.ready.set()
        elif frame["t"] in ("resync", "error"):
            client.resyncs += 1
            client.last_problem = frame
        elif frame["t"] == "rows":
            client.received += len(frame["rows"])
            client.latencies_ms.extend((arrived - row["ts"]) / 1e6 for row in frame["rows"] if row.get("ts"))

    try:
        await live_socket(url, cookie, {"type": "hello", "epoch": epoch, "cursor": cursor}, on_frame, stop)
    except websockets.ConnectionClosed as closed:
        client.closed = closed.rcvd.code if closed.rcvd else -1


class _Rig:
    """Database rows, a private prefix, daphne and the bridge as subprocesses."""

    def __init__(self, layer: str) -> None:
        self.prefix = f"tcbench{uuid.uuid4().hex[:8]}"
        os.environ["TRADECONSOLE_STREAM_PREFIX"] = self.prefix
        os.environ["TRADECONSOLE_CHANNEL_LAYER"] = layer
        setup_django(f"fanout_{layer}")
        from django.conf import settings

        # django.setup() runs once per process: keep the settings in step with this rig.
        settings.STREAM_PREFIX = self.prefix
        self.layer = layer
        self.processes: list[subprocess.Popen] = []
        self.redis = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)

    def setup_rows(self) -> None:
        from accounts.models import AccountMembership, BrokerAccount, User
        from orders.models import Instrument, Order

        account, _ = BrokerAccount.objects.get_or_create(code=ACCOUNT, defaults={"name": "Fan-out benchmark"})
        instrument, _ = Instrument.objects.get_or_create(symbol="BENCHFAN", defaults={"last_price": Decimal("10")})
        user, _ = User.objects.get_or_create(username="bench-fanout", defaults={"is_staff": True})
        AccountMembership.objects.get_or_create(user=user, account=account)
        existing = Order.objects.filter(account=account).count()
        Order.objects.bulk_create(submitted_order(account, instrument) for _ in range(max(0, ORDERS - existing)))
        self.order_ids = [
            str(c) for c in Order.objects.filter(account=account).values_list("client_order_id", flat=True)[:ORDERS]
        ]
        self.account_id = account.pk
        self.cookie = session_cookie(user)

    def start(self) -> None:
        self.port = free_port()
        self.processes = start_desk(self.port, ["--bridge-only", "--consumer", "bench"])

    def stop(self) -> None:
        stop_processes(self.processes)
        wipe_prefix(self.redis, self.prefix)

    def produce_direct(self, rate: int, seconds: float) -> int:
        """Send order rows straight to the group at ``rate`` per second (no bridge, no database)."""
        from orders.models import Order
        from streams import live, rows

        orders = list(
            Order.objects.select_related("account", "instrument", "trading_session__strategy").filter(
                account_id=self.account_id
            )[:ORDERS]
        )
        prepared = [rows.order_row(order) for order in orders]
        group = live.account_group(self.account_id)
        fanout = live.Fanout()
        count = int(rate * seconds)
        interval = 1.0 / rate
        next_at = time.perf_counter()
        try:
            for i in range(count):
                row = dict(prepared[i % len(prepared)])
                row["src_ts"] = time.time_ns()
                fanout.send(group, [row], src_ts=row["src_ts"])
                next_at += interval
                time.sleep(max(0.0, next_at - time.perf_counter()))
        finally:
            fanout.close()
        return count

    def produce(self, rate: int, seconds: float) -> int:
        """XADD ``order.status`` events at ``rate`` per second for ``seconds``; return how many."""
        from execution_worker import messages as m

        stream = f"{self.prefix}:events"
        count = int(rate * seconds)
        interval = 1.0 / rate
        next_at = time.perf_counter()
        for i in range(count):
            client_order_id = self.order_ids[i % len(self.order_ids)]
            message = m.OrderStatus(
                client_order_id=client_order_id,
                order_id=1000 + i % ORDERS,
                perm_id=5000 + i,
                status="Submitted",
                filled=Decimal("0"),
                remaining=Decimal("100"),
                avg_fill_price=Decimal("0"),
            )
            self.redis.xadd(stream, m.encode(message))
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        return count


async def _scenario(
    rig: _Rig, dashboards: int, rate: int, *, direct: bool = False, seconds: float = SECONDS
) -> tuple[list[Client], int]:
    from streams import live

    group = live.account_group(rig.account_id)
    url = f"ws://127.0.0.1:{rig.port}/ws/live/?page=blotter"
    stop = asyncio.Event()
    clients = [Client() for _ in range(dashboards)]
    epoch = live.epoch()
    tasks = []
    for client in clients:
        cursor = live.cursor([group, live.user_group(0)])
        tasks.append(asyncio.create_task(_browser(url, rig.cookie, {group: cursor[group]}, epoch, client, stop)))
        await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients)), timeout=60)
    except TimeoutError:
        failed = [t.exception() for t in tasks if t.done() and t.exception()]
        failed += [(c.closed, c.last_problem) for c in clients if not c.ready.is_set()]
        raise RuntimeError(f"dashboards not ready: {failed[:3]!r}") from None
    sent = await asyncio.to_thread(rig.produce_direct if direct else rig.produce, rate, seconds)
    expected = sent
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(c.received < expected and c.closed is None for c in clients):
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return clients, sent


def _lost(clients: list[Client], sent: int) -> int:
    """Rows that never reached a page, plus every resync or close the server asked for."""
    delivered = sum(c.received for c in clients)
    missing = sent * len(clients) - delivered
    return max(0, missing + sum(c.resyncs for c in clients) + sum(1 for c in clients if c.closed is not None))


def _run_layer(layer: str) -> list[Figure]:
    rig = _Rig(layer)
    rig.setup_rows()
    rig.start()
    figures = []
    try:
        # The bridge and daphne just started: their first events pay for first use (database
        # connections, query plans, imports, templates). A desk runs them all day, so the goals
        # are timed warm; the cold start is printed on its own.
        clients, sent = asyncio.run(_scenario(rig, 10, 100, seconds=WARMUP))
        samples = [ms for c in clients for ms in c.latencies_ms]
        label = f"fan-out [{layer}] cold start, first {WARMUP:g} s at 10 dashboards x 100 ev/s"
        figures += [f for f in latency_figures(label, samples or [float("inf")], {}) if f.name.endswith(("p99", "max"))]
        figures.append(Figure(f"{label}, lost", _lost(clients, sent), "rows", 0))
        for name, dashboards, rate, goals in SCENARIOS:
            clients, sent = asyncio.run(_scenario(rig, dashboards, rate))
            samples = [ms for c in clients for ms in c.latencies_ms]
            delivered = sum(c.received for c in clients)
            lost = _lost(clients, sent)
            label = f"fan-out [{layer}] {name}, XADD->browser"
            figures += [
                f
                for f in latency_figures(label, samples or [float("inf")], goals)
                if f.name.endswith(("p50", "p99", "max"))
            ]
            figures.append(Figure(f"fan-out [{layer}] {name}, deliveries/s", delivered / SECONDS, "/s"))
            figures.append(Figure(f"fan-out [{layer}] {name}, lost", lost, "rows", 0))
        # Where the time goes: the same deliveries sent by this process straight to the group
        # (channel layer + daphne + clients only, no bridge, no database).
        for dashboards, rate in ((50, 100),):
            clients, sent = asyncio.run(_scenario(rig, dashboards, rate, direct=True))
            samples = [ms for c in clients for ms in c.latencies_ms]
            label = f"fan-out [{layer}] layer+daphne only, {dashboards} dashboards x {rate} msg/s, group_send->browser"
            figures += [
                f for f in latency_figures(label, samples or [float("inf")], {}) if f.name.endswith(("p50", "p99"))
            ]
            figures.append(Figure(f"fan-out [{layer}] layer+daphne only, lost", _lost(clients, sent), "rows", 0))
    finally:
        rig.stop()
    return figures


def main() -> list[Figure]:
    # Both layers by default: the issue asks for the comparison that chose the setting's default.
    layers = os.environ.get("TC_BENCH_FANOUT_LAYERS", "pubsub,core")
    figures: list[Figure] = []
    for layer in [name.strip() for name in layers.split(",") if name.strip()]:
        # Each layer in a fresh interpreter: django.setup() reads the layer once per process.
        if len(layers.split(",")) > 1:
            figures += _in_subprocess(layer)
        else:
            figures += _run_layer(layer)
    return figures


def _in_subprocess(layer: str) -> list[Figure]:
    env = {**os.environ, "TC_BENCH_FANOUT_LAYERS": layer}
    code = (
        "import json; from bench.bench_fanout import main; print('FIGURES ' + json.dumps([f.__dict__ for f in main()]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900
    )
    line = next((x for x in result.stdout.splitlines() if x.startswith("FIGURES ")), None)
    if line is None:
        raise RuntimeError(f"fan-out benchmark for {layer} failed:\n{result.stderr[-3000:]}")
    return [Figure(**item) for item in json.loads(line[len("FIGURES ") :])]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
