"""The load clients of ``bench api_orders``: order POSTs back to back from several processes, or at a steady pace.

Each client process holds one keep-alive connection and a knox token and posts orders with a
fresh ``Idempotency-Key`` each; ``throughput`` turns what they measured into figures.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import sys
import time
import uuid

from bench.api_server import server_label, session_cpu_seconds
from bench.report import Figure, latency_figures

SECONDS = float(os.environ.get("TC_BENCH_API_SECONDS", "10"))
WARMUP = float(os.environ.get("TC_BENCH_API_WARMUP", "5"))
CONCURRENCY = int(os.environ.get("TC_BENCH_API_CONCURRENCY", "8"))
# One account per client: order_submit serializes the orders of one account on its row lock (the
# per-account risk counts must not race), so a single account would measure that queue instead.
ACCOUNTS = [f"BNA{n:07d}" for n in range(1, 33)]
SYMBOL = "BENCHAPI"
STACK_RATE = float(os.environ.get("TC_BENCH_API_STACK_RATE", "20"))
STACK_SECONDS = float(os.environ.get("TC_BENCH_API_STACK_SECONDS", "5"))


def order_headers(token: str) -> dict[str, str]:
    """The headers of an order POST with ``token``, as the TLS proxy forwards it (its
    ``Idempotency-Key`` apart)."""
    return {"Authorization": f"Token {token}", "Content-Type": "application/json", "X-Forwarded-Proto": "https"}


def post_client(port: int, token: str, account: str, start_at: float, stop_at: float, warm_until: float, out) -> None:
    """One client: post orders back to back on one keep-alive connection; send latencies (ms) to ``out``.

    Always answers on ``out`` (an exception counts as an error), so the parent never waits in vain.
    """
    samples: list[float] = []
    errors = 0
    try:
        errors = post_orders(port, token, account, start_at, stop_at, warm_until, samples)
    except Exception as exc:
        print(f"client failed: {exc!r}", file=sys.stderr)
        errors += 1
    finally:
        out.put((samples, errors))


def post_orders(port, token, account, start_at, stop_at, warm_until, samples: list[float]) -> int:
    """Post orders from ``start_at`` to ``stop_at``, appending the latencies (ms) after ``warm_until``
    to ``samples``; return how many were not answered 201."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps(
        {
            "account": account,
            "symbol": SYMBOL,
            "side": "BUY",
            "quantity": "1",
            "order_type": "LMT",
            "limit_price": "100.00",
            # The same order again and again, as a desk's script may: confirmed, as the duplicate guard asks.
            "allow_duplicate": True,
        }
    ).encode()
    headers = order_headers(token)
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


def throughput(
    port: int, token: str, server_pid: int, name: str = "api order POST", goals: bool = True
) -> list[Figure]:
    """Post from ``CONCURRENCY`` client processes for ``WARMUP`` + ``SECONDS``; return the rate, the
    latencies and the server's CPU per POST (``goals``: issue 7's).

    :raises RuntimeError: a POST was not answered 201, or none was measured.
    """
    out: multiprocessing.Queue = multiprocessing.Queue()
    start_at = time.time() + 1.0
    warm_until = start_at + WARMUP
    stop_at = warm_until + SECONDS
    clients = [
        multiprocessing.Process(
            target=post_client, args=(port, token, ACCOUNTS[n % len(ACCOUNTS)], start_at, stop_at, warm_until, out)
        )
        for n in range(CONCURRENCY)
    ]
    for client in clients:
        client.start()
    # The server's CPU over the measured window: what one POST costs it, whatever else runs here.
    time.sleep(max(0.0, warm_until - time.time()))
    cpu_before = session_cpu_seconds(server_pid)
    load_before = os.getloadavg()[0]
    time.sleep(max(0.0, stop_at - time.time()))
    cpu_after = session_cpu_seconds(server_pid)
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
            f"{name} at concurrency {CONCURRENCY} ({server_label()})",
            len(samples) / SECONDS,
            "req/s",
            500.0 if goals else None,
            higher_is_better=True,
        )
    ]
    return figures + latency_figures(f"{name} latency", samples, {"p50": 8.0, "p99": 25.0} if goals else {})


def paced(post) -> list[tuple[int, int, object]]:
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
