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
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

from bench.database import setup_django
from bench.report import Figure, latency_figures

ROOT = Path(__file__).resolve().parents[1]
SECONDS = float(os.environ.get("TC_BENCH_API_SECONDS", "10"))
WARMUP = float(os.environ.get("TC_BENCH_API_WARMUP", "5"))
CONCURRENCY = int(os.environ.get("TC_BENCH_API_CONCURRENCY", "8"))
WORKERS = int(os.environ.get("TC_BENCH_API_WORKERS", str(max(2, (os.cpu_count() or 2) + 1))))
THREADS = int(os.environ.get("TC_BENCH_API_THREADS", "4"))
# What serves the API: "gunicorn" (the Procfile's `api` process) or "daphne" (the `web` process,
# which serves the API too), to compare them on the same machine.
SERVER = os.environ.get("TC_BENCH_API_SERVER", "gunicorn")
# One account per client: order_submit serializes the orders of one account on its row lock (the
# per-account risk counts must not race), so a single account would measure that queue instead.
ACCOUNTS = [f"BNA{n:07d}" for n in range(1, 33)]
SYMBOL = "BENCHAPI"
STACK = os.environ.get("TC_BENCH_API_STACK", "1") != "0"
CEILING = os.environ.get("TC_BENCH_API_CEILING", "1") != "0"
STACK_RATE = float(os.environ.get("TC_BENCH_API_STACK_RATE", "20"))
STACK_SECONDS = float(os.environ.get("TC_BENCH_API_STACK_SECONDS", "5"))
# The server runs as a desk runs it: production settings (no DEBUG, whose query log alone cost
# about 1 ms of CPU per POST), behind a TLS proxy, whose X-Forwarded-Proto header the clients send.
PRODUCTION_ENV = {
    "TRADECONSOLE_MODE": "production",
    "SECRET_KEY": "bench-api-orders-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1",
}
# The whole-stack orders take quantities 1..STACK_ORDERS_MAX, each distinct within a run of that many.
STACK_ORDERS_MAX = 500


def _headers(token: str) -> dict[str, str]:
    """The headers of an order POST with ``token``, as the TLS proxy forwards it (its
    ``Idempotency-Key`` apart)."""
    return {"Authorization": f"Token {token}", "Content-Type": "application/json", "X-Forwarded-Proto": "https"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def _client(port: int, token: str, account: str, start_at: float, stop_at: float, warm_until: float, out) -> None:
    """One client: post orders back to back on one keep-alive connection; send latencies (ms) to ``out``.

    Always answers on ``out`` (an exception counts as an error), so the parent never waits in vain.
    """
    samples: list[float] = []
    errors = 0
    try:
        errors = _post_orders(port, token, account, start_at, stop_at, warm_until, samples)
    except Exception as exc:
        print(f"client failed: {exc!r}", file=sys.stderr)
        errors += 1
    finally:
        out.put((samples, errors))


def _post_orders(port, token, account, start_at, stop_at, warm_until, samples: list[float]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps(
        {
            "account": account,
            "symbol": SYMBOL,
            "side": "BUY",
            "quantity": "1",
            "order_type": "LMT",
            "limit_price": "100.00",
        }
    ).encode()
    headers = _headers(token)
    errors = 0
    while time.time() < start_at:
        time.sleep(0.001)
    while True:
        now = time.time()
        if now >= stop_at:
            break
        headers["Idempotency-Key"] = uuid.uuid4().hex
        started = time.perf_counter()
        conn.request("POST", "/api/v1/orders/", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 201:
            errors += 1
        if now >= warm_until:
            samples.append(elapsed)
        if response.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.close()
    return errors


def _wait_ready(port: int, deadline: float) -> None:
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the API server did not start in time")


def _start_server(port: int, prefix: str, settings: str = "tradeconsole.settings") -> subprocess.Popen:
    env = {
        **os.environ,
        **PRODUCTION_ENV,
        "TRADECONSOLE_STREAM_PREFIX": prefix,
        # The throttle is counted (one Redis round trip, as in production) but must not refuse.
        "TRADECONSOLE_API_ORDER_RATE": "100000000/min",
        "TRADECONSOLE_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": settings,
    }
    if SERVER == "daphne":
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tradeconsole.asgi:application"]
        return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tradeconsole.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "gthread",
            "--threads",
            str(THREADS),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
            # Import the project once in the master, so workers start warm and alike.
            "--preload",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _session_cpu_seconds(session: int) -> float | None:
    """Return the CPU seconds (user + system) used so far by the processes of ``session`` (Linux /proc).

    The server is started in a session of its own, so this is the server's whole process tree.
    None where /proc is not readable.
    """
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[3]) == session:  # field 6 of stat, the session id
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _server_label() -> str:
    return "daphne, one process" if SERVER == "daphne" else f"gunicorn {WORKERS}x{THREADS}"


def _throughput(
    port: int, token: str, server_pid: int, name: str = "api order POST", goals: bool = True
) -> list[Figure]:
    out: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 1.0
    warm_until = start_at + WARMUP
    stop_at = warm_until + SECONDS
    clients = [
        multiprocessing.Process(
            target=_client, args=(port, token, ACCOUNTS[n % len(ACCOUNTS)], start_at, stop_at, warm_until, out)
        )
        for n in range(CONCURRENCY)
    ]
    for client in clients:
        client.start()
    # The server's CPU over the measured window: what one POST costs it, whatever else runs here.
    time.sleep(max(0.0, warm_until - time.time()))
    cpu_before = _session_cpu_seconds(server_pid)
    load_before = os.getloadavg()[0]
    time.sleep(max(0.0, stop_at - time.time()))
    cpu_after = _session_cpu_seconds(server_pid)
    results = [out.get(timeout=SECONDS + WARMUP + 60) for _ in clients]
    for client in clients:
        client.join(timeout=10)
    samples = [sample for client_samples, _ in results for sample in client_samples]
    errors = sum(client_errors for _, client_errors in results)
    if errors or not samples:
        raise RuntimeError(f"{errors} order POSTs were not answered 201")
    figures = []
    if cpu_before is not None and cpu_after is not None:
        figures.append(Figure(f"{name}: server CPU per POST", (cpu_after - cpu_before) * 1000 / len(samples), "ms"))
    figures.append(Figure(f"{name}: machine load average (1 min) before the measured window", load_before, ""))
    figures += [
        Figure(
            f"{name} at concurrency {CONCURRENCY} ({_server_label()})",
            len(samples) / SECONDS,
            "req/s",
            500.0 if goals else None,
            higher_is_better=True,
        )
    ]
    return figures + latency_figures(f"{name} latency", samples, {"p50": 8.0, "p99": 25.0} if goals else {})


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def _paced(post) -> list[tuple[int, int, object]]:
    """Call ``post(i)`` ``STACK_RATE`` times a second for ``STACK_SECONDS``; return each call's
    start and end (``time.time_ns()``) and what it returned."""
    calls = []
    started = time.perf_counter()
    for i in range(int(STACK_RATE * STACK_SECONDS)):
        delay = started + i / STACK_RATE - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sent_ns = time.time_ns()
        answer = post(i)
        calls.append((sent_ns, time.time_ns(), answer))
    return calls


def _whole_stack(port: int, token: str, prefix: str) -> list[Figure]:
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
        headers = _headers(token)

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
        for sent_ns, answered_ns, client_order_id in _paced(lambda i: post(1 + i % STACK_ORDERS_MAX)):
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
        _stop(relay)
        _stop(worker)
        sim.stop()
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
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


def main() -> list[Figure]:
    setup_django("api")
    token = _seed()

    port = _free_port()
    prefix = f"tcbenchapi{uuid.uuid4().hex[:6]}"
    server = _start_server(port, prefix)
    try:
        _wait_ready(port, time.time() + 30)
        time.sleep(1.0)  # let every worker finish booting
        figures = _throughput(port, token, server.pid)
        if STACK:
            figures += _whole_stack(port, token, prefix)
    finally:
        _stop(server)
    if CEILING:
        figures += _ceiling(token)
    return figures


def _ceiling(token: str) -> list[Figure]:
    """The same throughput run against the ceiling server (``bench.api_ceiling_urls``)."""
    port = _free_port()
    server = _start_server(port, f"tcbenchapi{uuid.uuid4().hex[:6]}", settings="bench.api_ceiling_settings")
    try:
        _wait_ready(port, time.time() + 30)
        time.sleep(1.0)
        figures = _throughput(port, token, server.pid, name="api ceiling (no order work)", goals=False)
        figures += _ceiling_paced(port, token)
    finally:
        _stop(server)
    return [f for f in figures if "machine load" not in f.name and not f.name.endswith(("p99.9", "max"))]


def _ceiling_paced(port: int, token: str) -> list[Figure]:
    """One client posting at the whole stack's pace to the ceiling server: the least a POST answer
    takes there, to set beside the whole stack's "POST answered"."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = _headers(token)
    body = json.dumps({"account": ACCOUNTS[0], "symbol": SYMBOL, "side": "BUY", "quantity": "1"}).encode()

    def post(_: int) -> None:
        conn.request("POST", "/api/v1/orders/", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 201:
            raise RuntimeError(f"ceiling POST answered {response.status}")

    try:
        post(0)
        calls = _paced(post)
    finally:
        conn.close()
    samples = [(answered - sent) / 1e6 for sent, answered, _ in calls]
    return latency_figures(f"api ceiling (no order work): {STACK_RATE:g} POSTs/s, answered", samples, {})


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
