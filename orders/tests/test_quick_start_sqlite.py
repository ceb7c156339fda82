"""The quick start's SQLite: a PostgreSQL-only statement in the periodic tasks or on the order path
fails every time there.

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


ORDER_PATH = """
import json
from decimal import Decimal
from accounts.models import OutboxMessage, User
from execution_worker import messages as m
from orders.models import Fill, Order
from orders.services import order_submit
from streams import keys, live, relay, rows
from streams.bridge import EventBridge
from streams.redis_client import get_redis

trader = User.objects.get(username="trader")
order = order_submit(actor=trader, account="DU0000001", instrument="AAPL", side="BUY", quantity="10",
                     order_type="MKT", source="admin", via="admin")
published = relay.publish_pending()
coid = str(order.client_order_id)
client = get_redis()
for message in (
    m.OrderAccepted(client_order_id=coid, order_id=7, account="DU0000001"),
    m.OrderStatus(client_order_id=coid, order_id=7, perm_id=901, status="Submitted", filled=Decimal("0"),
                  remaining=Decimal("10"), avg_fill_price=Decimal("0")),
    m.OrderFilled(client_order_id=coid, order_id=7, exec_id="s1", account="DU0000001", symbol="AAPL", side="BUY",
                  quantity=Decimal("10"), price=Decimal("149.50"), time="2026-11-21T15:00:00+00:00"),
    m.OrderStatus(client_order_id=coid, order_id=7, perm_id=901, status="Filled", filled=Decimal("10"),
                  remaining=Decimal("0"), avg_fill_price=Decimal("149.50")),
):
    client.xadd(keys.events_stream(), m.encode(message))
fanout = live.Fanout()
bridge = EventBridge(fanout=fanout, block_ms=10)
for _ in range(20):
    if bridge.step() == 0:
        break
fanout.close()
order.refresh_from_db()
place = OutboxMessage.objects.get(type="order.place")
print("RESULT " + json.dumps({"published": published, "status": order.status, "dead": bridge.dead_lettered,
      "filled": str(order.filled_quantity), "fills": Fill.objects.filter(order=order).count(),
      "acknowledged": place.acknowledged_at is not None, "row": rows.order_row_by_id(order.pk),
      "orm_row": rows.order_row(Order.objects.select_related("account", "instrument").get(pk=order.pk))}))
"""


IDEMPOTENT_ENTRY = """
import json
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient
from accounts.idempotency import IdempotencyKey
from accounts.models import User
from orders.models import Order

client = APIClient()
client.force_authenticate(User.objects.get(username="trader"))
body = {"account": "DU0000001", "symbol": "AAPL", "side": "BUY", "quantity": "10", "order_type": "MKT"}

def post(data=body):
    return client.post("/api/v1/orders/", data, format="json", HTTP_IDEMPOTENCY_KEY="sqlite-key")

first, retry, other = post(), post(), post({**body, "quantity": "11"})
# Backdated as a plain statement writes a time (the claim's INSERT), not as the ORM's update does.
with connection.cursor() as cursor:
    cursor.execute("UPDATE accounts_idempotencykey SET created_at = %s", [timezone.now() - timedelta(hours=25)])
after_expiry = post()
print("RESULT " + json.dumps({"codes": [r.status_code for r in (first, retry, other, after_expiry)],
      "replayed": retry.get("Idempotent-Replayed"), "orders": Order.objects.count(),
      "keys": IdempotencyKey.objects.count()}))
"""


def _quick_start(tmp_path, script: str) -> dict:
    """Migrate and seed a fresh SQLite file, run ``script`` in ``manage.py shell``; return its RESULT."""
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
        out = manage("shell", "-c", script)
    finally:
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}:*"))
        if keys:
            client.delete(*keys)
    return json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[len("RESULT ") :])


@pytest.mark.slow
def test_monitoring_and_housekeeping_run_on_the_quick_starts_sqlite(tmp_path):
    result = _quick_start(tmp_path, SCRIPT)

    assert result["first"] == [] and result["second"] == []
    assert result["ran"] is True
    assert result["realized"] == "4.0000"
    assert result["housekeeping"] == {
        "idempotency_keys": 0,
        "api_tokens": 0,
        "outbox_messages": 0,
        "pending_commissions": 0,
    }


@pytest.mark.slow
def test_an_order_is_entered_published_and_filled_through_the_bridge_on_the_quick_starts_sqlite(tmp_path):
    result = _quick_start(tmp_path, ORDER_PATH)

    assert result["published"] >= 1 and result["dead"] == 0  # seed_demo queued the risk limits too
    assert result["status"] == "FILLED" and result["filled"] == "10.0000" and result["fills"] == 1
    assert result["acknowledged"] is True
    assert result["row"] == result["orm_row"] and result["row"]["ctx"]["status"] == "FILLED"


@pytest.mark.slow
def test_idempotent_order_entry_replays_refuses_and_forgets_expired_keys_on_the_quick_starts_sqlite(tmp_path):
    result = _quick_start(tmp_path, IDEMPOTENT_ENTRY)

    assert result["codes"] == [201, 201, 422, 201]
    assert result["replayed"] == "true"
    assert result["orders"] == 2 and result["keys"] == 1
