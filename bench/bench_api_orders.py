"""API order entry: POST /api/v1/orders/ (validate, insert, outbox, 201) at concurrency 8, real server.

The server is what the product ships for the API, the Procfile's ``api`` process: gunicorn
serving ``tradeconsole.wsgi:application`` (``TC_BENCH_API_WORKERS`` processes x
``TC_BENCH_API_THREADS`` gthread threads, keep-alive; the Procfile's 3 x 4 by default on two
cores), or daphne, the ``web`` process, with ``TC_BENCH_API_SERVER=daphne`` to compare; with
production settings, as if behind a TLS proxy; started on a free 127.0.0.1 port against the
machine's PostgreSQL (``DATABASE_URL``) and Redis (``REDIS_URL``, under a private prefix).
Eight client processes, each with one keep-alive connection and a knox token, post orders with a fresh
``Idempotency-Key`` each, as fast as answers come back, for ``TC_BENCH_API_SECONDS`` after a
warm-up. Every request goes the whole way: token check, role gate, per-user throttle (Redis),
idempotency key (claim, lock, store), ``order_submit`` (risk checks, order, event, audit,
outbox), 201. A non-201 answer fails the run.

Goals (issue 7): >= 500 requests/s sustained, p50 <= 8 ms, p99 <= 25 ms.

Second figure, the whole stack: the same server, plus the outbox relay (``manage.py stream_bridge
--relay-only``), the execution worker (``python -m execution_worker``) and the simulator (in this
process); once a first order has gone all the way through (every process is up), one client
posts ``TC_BENCH_API_STACK_RATE`` orders a second for ``TC_BENCH_API_STACK_SECONDS``; each
latency runs from just before the POST is sent to the moment the simulator read the placeOrder
frame (its ledger's ``arrived_ns``). Goals: p50 <= 10 ms, p99 <= 30 ms. ``TC_BENCH_API_STACK=0``
skips it.

Third figure, no goal: the ceiling, the same server and clients with the order POST answered 201
by ``bench.api_ceiling_urls`` after the token check, the role gate and the throttle, without any
order work, and then one client posting at the whole stack's pace; the order POST can never be
faster than that on this machine at that moment.
``TC_BENCH_API_CEILING=0`` skips it.

Fourth, what metrics and logs cost (issue 21): the first figure's server runs as in production,
metrics on and INFO lines in JSON (written to a file); the same run on a server started with
``TRADECONSOLE_METRICS=off`` (no django-prometheus middleware) and WARNING logs, and the throughput
lost with both: goal <= 5 %. ``TC_BENCH_API_METRICS=0`` skips it.
"""

from __future__ import annotations

import http.client
import json
import os
import tempfile
import time
import uuid
from decimal import Decimal

from bench.api_load import ACCOUNTS, STACK_RATE, SYMBOL, order_headers, paced, throughput
from bench.api_server import start_server, stop, wait_ready
from bench.api_stack import whole_stack
from bench.database import setup_django
from bench.live_rig import free_port
from bench.report import Figure, latency_figures

STACK = os.environ.get("TC_BENCH_API_STACK", "1") != "0"
CEILING = os.environ.get("TC_BENCH_API_CEILING", "1") != "0"
METRICS_COST = os.environ.get("TC_BENCH_API_METRICS", "1") != "0"


def _seed() -> str:
    """Create the bench's trader, account, instrument and wide limits; return a fresh token."""
    from django.contrib.auth.models import Group
    from knox.models import AuthToken

    from accounts.models import AccountMembership, BrokerAccount, Role, User
    from orders.models import Instrument, RiskLimit

    user, _ = User.objects.get_or_create(username="bench-api-trader")
    user.groups.add(Group.objects.get(name=Role.TRADER))
    for code in ACCOUNTS:
        account, _ = BrokerAccount.objects.get_or_create(code=code, defaults={"name": "API benchmark"})
        BrokerAccount.objects.filter(pk=account.pk).update(trading_enabled=True)
        AccountMembership.objects.get_or_create(user=user, account=account)
        # Wide limits: the benchmark measures the path, not a refusal.
        RiskLimit.objects.update_or_create(
            account=account,
            defaults={
                "max_order_quantity": Decimal("1000000"),
                "max_order_notional": Decimal("1000000000"),
                "max_position": Decimal("1000000000000"),
                "max_daily_loss": Decimal("1000000000"),
                "orders_per_minute": 1_000_000,
            },
        )
    Instrument.objects.update_or_create(
        symbol=SYMBOL, defaults={"last_price": Decimal("100.00"), "min_tick": Decimal("0.01"), "active": True}
    )
    AuthToken.objects.filter(user=user).delete()
    _, token = AuthToken.objects.create(user=user)
    return token


def main() -> list[Figure]:
    setup_django("api")
    token = _seed()

    port = free_port()
    prefix = f"tcbenchapi{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryFile() as log_file:
        server = start_server(port, prefix, log_file=log_file)
        try:
            wait_ready(port, time.time() + 30)
            time.sleep(1.0)  # let every worker finish booting
            figures = throughput(port, token, server.pid)
            if STACK:
                figures += whole_stack(port, token, prefix)
        finally:
            stop(server)
    if METRICS_COST:
        figures += _metrics_cost(token, figures)
    if CEILING:
        figures += _ceiling(token)
    return figures


def _metrics_cost(token: str, with_metrics: list[Figure]) -> list[Figure]:
    """The throughput run on a server with metrics off and WARNING logs; the share of throughput that
    metrics and INFO logs cost."""
    port = free_port()
    server = start_server(port, f"tcbenchapi{uuid.uuid4().hex[:6]}", extra_env={"TRADECONSOLE_METRICS": "off"})
    try:
        wait_ready(port, time.time() + 30)
        time.sleep(1.0)
        without = throughput(port, token, server.pid, name="api order POST, metrics off, WARNING logs", goals=False)
    finally:
        stop(server)
    rate_on = next(f.value for f in with_metrics if f.unit == "req/s")
    rate_off = next(f.value for f in without if f.unit == "req/s")
    kept = [f for f in without if f.unit == "req/s" or f.name.endswith(("p50", "server CPU per POST"))]
    lost = (rate_off - rate_on) / rate_off * 100
    return [*kept, Figure("metrics and logs: throughput lost with both on", lost, "%", 5.0)]


def _ceiling(token: str) -> list[Figure]:
    """The same throughput run against the ceiling server (``bench.api_ceiling_urls``)."""
    port = free_port()
    server = start_server(port, f"tcbenchapi{uuid.uuid4().hex[:6]}", settings="bench.api_ceiling_settings")
    try:
        wait_ready(port, time.time() + 30)
        time.sleep(1.0)
        figures = throughput(port, token, server.pid, name="api ceiling (no order work)", goals=False)
        figures += _ceiling_paced(port, token)
    finally:
        stop(server)
    return [f for f in figures if "machine load" not in f.name and not f.name.endswith(("p99.9", "max"))]


def _ceiling_paced(port: int, token: str) -> list[Figure]:
    """One client posting at the whole stack's pace to the ceiling server: the least a POST answer
    takes there, to set beside the whole stack's "POST answered"."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = order_headers(token)
    body = json.dumps({"account": ACCOUNTS[0], "symbol": SYMBOL, "side": "BUY", "quantity": "1"}).encode()

    def post(_: int) -> None:
        conn.request("POST", "/api/v1/orders/", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"ceiling POST answered {response.status}")

    try:
        post(0)
        calls = paced(post)
    finally:
        conn.close()
    samples = [(answered - sent) / 1e6 for sent, answered, _ in calls]
    return latency_figures(f"api ceiling (no order work): {STACK_RATE:g} POSTs/s, answered", samples, {})


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
