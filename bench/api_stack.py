"""The whole stack of ``bench api_orders``: POST -> relay -> worker -> placeOrder at the simulator, timed per order."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import uuid

from bench.api_load import ACCOUNTS, STACK_RATE, SYMBOL, order_headers, paced
from bench.api_server import PRODUCTION_ENV, ROOT, stop
from bench.live_rig import wipe_prefix
from bench.report import Figure, latency_figures

# The whole-stack orders take quantities 1..STACK_ORDERS_MAX, each distinct within a run of that many.
STACK_ORDERS_MAX = 500


def _wait_for(predicate, timeout: float, what: str):
    """Poll ``predicate`` until it returns something truthy; return it.

    :raises RuntimeError: ``timeout`` seconds passed first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def whole_stack(port: int, token: str, prefix: str) -> list[Figure]:
    """POST -> relay -> worker -> placeOrder at the simulator, at a steady rate from one client."""
    import redis
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import OutboxMessage
    from tws_simulator import Simulator, SimulatorConfig

    account = ACCOUNTS[0]
    # Only this run's commands: older rows of this database are not the relay's business here.
    OutboxMessage.objects.filter(published_at__isnull=True).update(published_at=timezone.now())
    OutboxMessage.objects.filter(acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())
    client = redis.Redis.from_url(settings.REDIS_URL)
    sim = Simulator(
        SimulatorConfig(
            host="127.0.0.1",
            port=0,
            accounts=[account],
            seed=1,
            market_interval=0,
            presubmitted=False,
            instruments={SYMBOL: 100.0},
        )
    )
    sim.start()
    env = {
        **os.environ,
        **PRODUCTION_ENV,
        "TRADECONSOLE_STREAM_PREFIX": prefix,
        "TWS_PORT": str(sim.port),
        "TWS_CLIENT_ID": "37",
        "TC_WORKER_LOG_LEVEL": "WARNING",
        "TRADECONSOLE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    client.set(
        f"{prefix}:risk:limits:{account}",
        json.dumps({"account": account, "max_order_quantity": "1000000", "max_order_notional": "1000000000"}),
    )
    worker = subprocess.Popen([sys.executable, "-m", "execution_worker"], cwd=ROOT, env=env, start_new_session=True)
    relay = subprocess.Popen(
        [sys.executable, "manage.py", "stream_bridge", "--relay-only"], cwd=ROOT, env=env, start_new_session=True
    )
    sent: dict[str, int] = {}
    answered_ms: list[float] = []
    try:
        events = f"{prefix}:events"
        _wait_for(
            lambda: any(f[b"type"] == b"gateway.status" and b'"ready"' in f[b"data"] for _, f in client.xrange(events)),
            30,
            "the worker to be ready",
        )
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = order_headers(token)

        def post(quantity: int) -> str:
            # A price under the market, in the collar: it rests.
            body = {
                "account": account,
                "symbol": SYMBOL,
                "side": "BUY",
                "quantity": str(quantity),
                "order_type": "LMT",
                "limit_price": "96.00",
            }
            headers["Idempotency-Key"] = uuid.uuid4().hex
            conn.request("POST", "/api/v1/orders/", body=json.dumps(body).encode(), headers=headers)
            response = conn.getresponse()
            payload = response.read()
            if response.status != 201:
                raise RuntimeError(f"order POST answered {response.status}: {payload[:200]!r}")
            return json.loads(payload)["client_order_id"]

        def placed() -> set[str]:
            return {p["order_ref"] for p in sim.ledger.snapshot()["place_orders"]}

        # The worker's "ready" does not mean the relay has booted: one order all the way through
        # first, so the clock starts on a running path (else the first orders wait for the relay).
        first = post(STACK_ORDERS_MAX + 1)
        _wait_for(lambda: first in placed(), 30, "a first order at the simulator")
        # Distinct quantities (the worker's duplicate rule).
        for sent_ns, answered_ns, client_order_id in paced(lambda i: post(1 + i % STACK_ORDERS_MAX)):
            sent[client_order_id] = sent_ns
            answered_ms.append((answered_ns - sent_ns) / 1e6)
        conn.close()

        def arrivals() -> dict[str, int]:
            return {
                p["order_ref"]: p["arrived_ns"] for p in sim.ledger.snapshot()["place_orders"] if p["order_ref"] in sent
            }

        _wait_for(lambda: len(arrivals()) >= len(sent), 30, "every order at the simulator")
        arrived = arrivals()
    finally:
        stop(relay)
        stop(worker)
        sim.stop()
        wipe_prefix(client, prefix)
        client.close()
    samples = [(arrived[coid] - ns) / 1e6 for coid, ns in sent.items()]
    figures = latency_figures(
        f"{STACK_RATE:g} orders/s: POST -> placeOrder at the simulator", samples, {"p50": 10.0, "p99": 30.0}
    )
    # Where the time goes: the POST's own answer (the order committed), the rest being the relay,
    # the worker and the simulator's read.
    figures += [
        f for f in latency_figures(f"{STACK_RATE:g} orders/s: POST answered", answered_ms, {}) if f.name.endswith("p50")
    ]
    return figures
