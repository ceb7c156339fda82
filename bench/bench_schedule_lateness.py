"""Scheduled orders: lateness from the due time to the placeOrder bytes at the simulator, p99 <= 50 ms
over 200 firings.

The whole path runs as in production, each part a real process: ``celery beat`` and a Celery
worker (the firing task materialises each occurrence through ``order_submit`` a few seconds ahead,
with ``not_before`` = its due time), the outbox relay (``manage.py stream_bridge --relay-only``),
the execution worker (``python -m execution_worker``, which holds each order until its
``not_before``) and the paper TWS (``tws_simulator``, in this process, whose ledger stamps the
moment it read each placeOrder frame). PostgreSQL is a private database
(``<DATABASE_URL name>_bench_sched``), Redis keys a private prefix deleted afterwards.
Lateness = ledger ``arrived_ns`` - the occurrence's due time; negative would mean early.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import redis

from bench.database import setup_django
from bench.report import Figure, latency_figures

ROOT = Path(__file__).resolve().parents[1]
FIRINGS = int(os.environ.get("TC_BENCH_SCHEDULE_FIRINGS", "200"))
SPACING = float(os.environ.get("TC_BENCH_SCHEDULE_SPACING", "0.1"))  # seconds between due times
LEAD = 15.0  # seconds from creating the schedules to the first due time


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def main() -> list[Figure]:
    prefix = f"tcbench{uuid.uuid4().hex[:8]}"
    os.environ["TRADECONSOLE_STREAM_PREFIX"] = prefix
    setup_django("sched")
    from django.conf import settings

    from execution_worker import messages as m
    from tws_simulator import Simulator, SimulatorConfig

    account_code = f"DU{random.randint(1_000_000, 9_999_999)}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    names = m.StreamNames(prefix)
    sim = Simulator(
        SimulatorConfig(
            host="127.0.0.1", port=0, accounts=[account_code], seed=1, market_interval=0, presubmitted=False
        )
    )
    sim.start()
    client.set(
        names.risk_limits(account_code),
        json.dumps(
            {
                "max_order_quantity": 100_000,
                "max_order_notional": 100_000_000,
                "max_position": 10_000_000,
                "orders_per_minute": 100_000,
            }
        ),
    )
    env = dict(os.environ)
    env.update(
        {
            "TWS_PORT": str(sim.port),
            "TWS_CLIENT_ID": "41",
            "TRADECONSOLE_SCHEDULER_TICK": "0.5",
            "TRADECONSOLE_SCHEDULER_HORIZON": "3",
            "TRADECONSOLE_BEAT_MAX_LOOP_INTERVAL": "0.2",
            "TRADECONSOLE_MONITOR_INTERVAL": "3600",
            "TC_WORKER_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"{prefix}-logs"
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen] = []

    def spawn(name: str, args: list[str]) -> subprocess.Popen:
        out = (logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        processes.append(process)
        return process

    samples: list[float] = []
    missing = FIRINGS
    try:
        spawn("execution", [sys.executable, "-m", "execution_worker"])
        spawn("relay", [sys.executable, "manage.py", "stream_bridge", "--relay-only", "--poll", "0.5"])
        celery = [sys.executable, "-m", "celery", "-A", "tradeconsole"]
        spawn(
            "celery", [*celery, "worker", "--pool=prefork", "--concurrency=2", "--without-gossip", "--without-mingle"]
        )
        spawn("beat", [*celery, "beat", f"--schedule={logs / 'beat-schedule'}"])
        _wait(lambda: _worker_ready(client, names), 30, "the execution worker to be ready")
        due = _create_schedules(account_code)
        last_due = max(due.values())
        _wait(
            lambda: len(_arrivals(sim, due)) >= FIRINGS or time.time_ns() > last_due + 20 * 10**9,
            LEAD + FIRINGS * SPACING + 30,
            "the firings",
        )
        arrivals = _arrivals(sim, due)
        samples = [(arrivals[ref] - due[ref]) / 1e6 for ref in arrivals]
        missing = FIRINGS - len(samples)
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        sim.stop()
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
        _retire_schedules()
    if not samples:
        return [Figure("scheduled firings that reached the simulator", 0, "firings", FIRINGS, higher_is_better=True)]
    figures = latency_figures(
        f"scheduled order due -> placeOrder at TWS ({len(samples)} firings)", samples, {"p99": 50.0}
    )
    figures.append(Figure("scheduled order earliest arrival vs due (negative: early)", min(samples), "ms"))
    figures.append(Figure("scheduled firings that did not reach the simulator", missing, "firings", 0))
    return figures


def _worker_ready(client, names) -> bool:
    for _, fields in client.xrange(names.events):
        if fields.get(b"type") == b"gateway.status" and b'"ready"' in fields.get(b"data", b""):
            return True
    return False


def _create_schedules(account_code: str) -> dict[str, int]:
    """Create ``FIRINGS`` schedules due ``LEAD`` s from now, ``SPACING`` s apart; return client order id → due ns."""
    from django.utils import timezone

    from accounts.models import BrokerAccount
    from orders.models import Instrument, RiskLimit, ScheduledOrder
    from orders.services import occurrence_client_order_id

    account = BrokerAccount.objects.create(code=account_code, name="schedule bench")
    RiskLimit.objects.create(
        account=account,
        orders_per_minute=100_000,
        max_order_quantity=Decimal("100000"),
        max_position=Decimal("10000000"),
    )
    instrument, _ = Instrument.objects.update_or_create(
        symbol="AAPL", sec_type="STK", exchange="SMART", currency="USD",
        defaults={"last_price": Decimal("190"), "last_price_at": timezone.now(), "active": True},
    )  # fmt: skip
    start = timezone.now() + timedelta(seconds=LEAD)
    new_york = ZoneInfo("America/New_York")
    due: dict[str, int] = {}
    for n in range(FIRINGS):
        moment = start + timedelta(seconds=n * SPACING)
        schedule = ScheduledOrder.objects.create(
            name=f"bench {n}",
            account=account,
            instrument=instrument,
            side="BUY",
            # A distinct quantity each: the worker refuses the same order twice within 2 s.
            quantity=Decimal(1 + n),
            order_type="LMT",
            limit_price=Decimal("181.00"),  # rests below the simulator's 190: one placeOrder, no fill
            time_of_day=moment.astimezone(new_york).time(),
            time_zone="America/New_York",
            weekdays="0,1,2,3,4,5,6",
            exchange_calendar="",
            valid_until=moment.astimezone(new_york).date(),
            grace_seconds=60,
        )
        local_date = moment.astimezone(new_york).date()
        due[str(occurrence_client_order_id(schedule.pk, local_date))] = int(moment.timestamp() * 1e9)
    return due


def _arrivals(sim, due: dict[str, int]) -> dict[str, int]:
    return {p["order_ref"]: p["arrived_ns"] for p in sim.ledger.snapshot()["place_orders"] if p["order_ref"] in due}


def _retire_schedules() -> None:
    """End every bench schedule today, so a later run's beat never fires an earlier run's."""
    from orders.models import ScheduledOrder

    ScheduledOrder.objects.filter(name__startswith="bench ").update(valid_until=date.today() - timedelta(days=1))
