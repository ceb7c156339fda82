"""The periodic tasks on the quick start's SQLite: a PostgreSQL-only statement fails every run there.

Run in a subprocess (Django is set up once per process, on PostgreSQL here), against a fresh
SQLite file and the machine's Redis under a private prefix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json
from decimal import Decimal
from django.utils import timezone
from accounts.models import BrokerAccount
from orders import housekeeping, monitoring
from orders.models import Instrument, PnLPoint
from orders.services import fill_record

account = BrokerAccount.objects.get(code="DU0000001")
aapl = Instrument.objects.get(symbol="AAPL")
for exec_id, side, quantity, price in [("q1", "BUY", "10", "150.25"), ("q2", "SELL", "4", "151.25")]:
    fill_record(exec_id=exec_id, account=account, instrument=aapl, side=side, quantity=Decimal(quantity),
                price=Decimal(price), executed_at=timezone.now())
first = monitoring.monitoring_run().as_dict()
second = monitoring.monitoring_run().as_dict()
point = PnLPoint.objects.filter(account=account).latest("id")
print("RESULT " + json.dumps({"first": first["errors"], "second": second["errors"], "ran": second["ran"],
      "realized": str(point.realized_pnl), "housekeeping": housekeeping.housekeeping_run().as_dict()}))
"""


@pytest.mark.slow
def test_monitoring_and_housekeeping_run_on_the_quick_starts_sqlite(tmp_path):
    prefix = f"tcsqlite{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        TRADECONSOLE_MODE="development",
        DATABASE_URL=f"sqlite:///{tmp_path / 'quickstart.sqlite3'}",
        REDIS_URL=settings.REDIS_URL,
        TRADECONSOLE_STREAM_PREFIX=prefix,
    )

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    try:
        manage("migrate", "-v0")
        manage("seed_demo")
        out = manage("shell", "-c", SCRIPT)
    finally:
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[len("RESULT ") :])

    assert result["first"] == [] and result["second"] == []
    assert result["ran"] is True
    assert result["realized"] == "4.0000"
    assert result["housekeeping"] == {
        "idempotency_keys": 0,
        "api_tokens": 0,
        "outbox_messages": 0,
        "pending_commissions": 0,
    }
