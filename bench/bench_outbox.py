"""Outbox relay: commit of an outbox row -> its entry on the command stream (p99 <= 5 ms).

The relay runs as in production (``manage.py stream_bridge --relay-only``, a subprocess) on the
machine's PostgreSQL (``DATABASE_URL``) and Redis (``REDIS_URL``) under a private stream prefix.
This process commits ``broker.refresh`` outbox rows at a steady rate and a reader thread blocks on
the stream; the latency of a row is from the end of its COMMIT (the first on-commit callback) to
the moment the reader got it, so it includes the on-commit wake-up, the relay's claim, XADD and the read.
Rows written here are deleted afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import redis

from bench.database import setup_django
from bench.report import Figure, latency_figures

ROOT = Path(__file__).resolve().parents[1]
COUNT = int(os.environ.get("TC_BENCH_OUTBOX_COUNT", "1000"))
RATE = float(os.environ.get("TC_BENCH_OUTBOX_RATE", "200"))  # commits per second


def main() -> list[Figure]:
    # The stream reader stands in for the worker, another process, but shares this interpreter
    # with the thread committing rows: let it take the GIL within 0.5 ms of XREAD returning, not
    # the default 5 ms switch interval, or the figure measures the committing thread's ORM work.
    sys.setswitchinterval(0.0005)
    prefix = f"tcbench{uuid.uuid4().hex[:8]}"
    os.environ["TRADECONSOLE_STREAM_PREFIX"] = prefix
    setup_django("outbox")
    from django.conf import settings
    from django.db import transaction

    from accounts.models import OutboxMessage
    from accounts.services import outbox_enqueue

    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    stream = f"{prefix}:commands"
    arrived: dict[str, int] = {}
    stop = threading.Event()

    def read() -> None:
        last = "0-0"
        while not stop.is_set():
            reply = client.xread({stream: last}, count=500, block=200)
            now = time.perf_counter_ns()
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    last = entry_id
                    arrived.setdefault(fields["id"], now)

    env = dict(os.environ)
    relay = subprocess.Popen(
        [sys.executable, "manage.py", "stream_bridge", "--relay-only", "--poll", "0.5"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    committed: dict[str, int] = {}
    ids: list[int] = []
    try:
        time.sleep(3.0)  # the relay is up and blocked in BLPOP
        if relay.poll() is not None:
            raise RuntimeError(f"relay exited: {relay.stderr.read().decode()[-2000:]}")
        interval = 1.0 / RATE
        next_at = time.perf_counter()
        for _ in range(COUNT):
            with transaction.atomic():
                message_id = uuid.uuid4()
                # Registered before the row's own wake-up, so it runs first: the moment of the commit.
                transaction.on_commit(lambda mid=str(message_id): committed.__setitem__(mid, time.perf_counter_ns()))
                row = outbox_enqueue(type="broker.refresh", data={"what": ["positions"]})
                OutboxMessage.objects.filter(pk=row.pk).update(message_id=message_id)
            ids.append(row.id)
            next_at += interval
            time.sleep(max(0.0, next_at - time.perf_counter()))
        deadline = time.monotonic() + 10
        while len(arrived) < COUNT and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        relay.terminate()
        relay.wait(10)
        errors = relay.stderr.read().decode(errors="replace")
        if "Traceback" in errors:
            print(errors[-3000:], file=sys.stderr)
        reader.join(2)
        OutboxMessage.objects.filter(id__in=ids).delete()
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    samples = [(arrived[mid] - t0) / 1e6 for mid, t0 in committed.items() if mid in arrived]
    lost = COUNT - len(samples)
    figures = latency_figures(f"outbox commit->stream ({COUNT} rows at {RATE:g}/s)", samples, {"p99": 5.0})
    figures.append(Figure("outbox rows not published within 10 s", lost, "rows", 0))
    return figures
