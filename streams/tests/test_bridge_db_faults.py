"""The bridge under database faults: a connection killed mid-batch loses nothing and acknowledges nothing early.

Issue 15, finding 3: a ``pg_terminate_backend`` of the bridge's connection while a batch was open
rolled the whole batch back without raising, and the entries already applied in it were
acknowledged in Redis: orders stayed ``NEW`` and fills were missing for good.

The real ``manage.py stream_bridge`` runs on PostgreSQL. To kill its connection mid-batch at a
known point, the test holds row locks on some orders: the bridge applies the entries before such
an order in its open transaction, then waits for the lock; that wait is where the test kills it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from execution_worker import messages as m
from orders.models import Fill, Order, OrderStatus, Position
from streams import keys
from tradeconsole.tests.database import database_connect, database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ORDERS = 12


def _env() -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    return env


def _admin() -> psycopg.Connection:
    return database_connect(autocommit=True)


def _wait(predicate, timeout: float = 60.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _lock_waiter(admin: psycopg.Connection, blocker_pid: int) -> tuple[int, bool] | None:
    """The backend waiting for a lock ``blocker_pid`` holds, and whether its transaction already wrote."""
    row = admin.execute(
        "SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity"
        " WHERE datname = current_database() AND %s = ANY(pg_blocking_pids(pid))",
        [blocker_pid],
    ).fetchone()
    return (row[0], row[1]) if row else None


def _events(orders: list[Order]) -> list[tuple[str, m.Message]]:
    """A burst as TWS sends it: every order accepted, then working, then filled, then done."""
    events: list[tuple[str, m.Message]] = []
    for n, order in enumerate(orders):
        events.append(
            (
                "accepted",
                m.OrderAccepted(client_order_id=str(order.client_order_id), order_id=100 + n, account="DU0000001"),
            )
        )
    for n, order in enumerate(orders):
        events.append(
            (
                "filled",
                m.OrderFilled(
                    client_order_id=str(order.client_order_id),
                    order_id=100 + n,
                    exec_id=f"0000e0d8.6{n:07d}.01.01",
                    account="DU0000001",
                    symbol="AAPL",
                    side="BUY",
                    quantity=Decimal("10"),
                    price=Decimal("100.25"),
                    time=datetime.now(UTC).isoformat(timespec="seconds"),
                ),
            )
        )
    for n, order in enumerate(orders):
        events.append(
            (
                "status",
                m.OrderStatus(
                    client_order_id=str(order.client_order_id),
                    order_id=100 + n,
                    perm_id=5000 + n,
                    status="Filled",
                    filled=Decimal("10"),
                    remaining=Decimal("0"),
                    avg_fill_price=Decimal("100.25"),
                ),
            )
        )
    return events


def _committed(kind: str, message: m.Message) -> bool:
    """Whether the effect of one event of the burst is in the database (committed)."""
    if kind == "filled":
        return Fill.objects.filter(exec_id=message.exec_id).exists()
    order = Order.objects.get(client_order_id=message.client_order_id)
    if kind == "accepted":
        return order.ib_order_id == message.order_id
    return order.events.filter(message_id=message.id).exists()


def _acknowledged(client, entry_ids: list[str]) -> list[str]:
    """The entries the group ``bridge`` has delivered and acknowledged."""
    group = next(g for g in client.xinfo_groups(keys.events_stream()) if g["name"] == "bridge")
    last = tuple(int(part) for part in group["last-delivered-id"].split("-"))
    still = {row["message_id"] for row in client.xpending_range(keys.events_stream(), "bridge", "-", "+", 10_000)}
    return [e for e in entry_ids if tuple(int(p) for p in e.split("-")) <= last and e not in still]


def _run_burst_under_kills(redis_client, submit, kills: list[int]) -> None:
    """Feed the burst to a real bridge and kill its connection mid-batch at each of ``kills`` (order indexes)."""
    orders = [submit(quantity=Decimal("10")) for _ in range(ORDERS)]
    events = _events(orders)
    pipe = redis_client.pipeline(transaction=True)
    for _, message in events:
        pipe.xadd(keys.events_stream(), m.encode(message))
    entry_ids = pipe.execute()
    effects = dict(zip(entry_ids, events, strict=True))

    lockers = {}
    for index in dict.fromkeys(kills):
        locker = _admin()
        locker.autocommit = False
        locker.execute("SELECT 1 FROM orders_order WHERE id = %s FOR UPDATE", [orders[index].pk])
        lockers[index] = locker
    admin = _admin()
    command = [sys.executable, "manage.py", "stream_bridge", "--bridge-only", "--consumer", "bridge-f3"]
    process = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for n, index in enumerate(kills):
            blocker = lockers[index].info.backend_pid
            pid, wrote = _wait(lambda b=blocker: _lock_waiter(admin, b), what="the bridge to wait for a locked order")
            # Mid-batch: the bridge's open transaction holds the effects of the entries before the locked one.
            assert wrote
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            _wait(
                lambda p=pid: (
                    admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [p]).fetchone()[0] == 0
                ),
                what="the killed backend to go",
            )
            # Let the bridge notice and retry into the next lock (or finish) before judging its acks.
            time.sleep(1.0)
            for entry_id in _acknowledged(redis_client, entry_ids):
                assert _committed(*effects[entry_id]), f"{effects[entry_id][0]} {entry_id} acknowledged, not committed"
            if index not in kills[n + 1 :]:
                lockers.pop(index).close()

        _wait(
            lambda: (
                redis_client.xpending(keys.events_stream(), "bridge")["pending"] == 0
                and len(_acknowledged(redis_client, entry_ids)) == len(entry_ids)
            ),
            what="every entry to be acknowledged",
        )
        assert process.poll() is None, "the bridge died instead of replacing its connection"
    finally:
        process.terminate()
        process.wait(15)
        for locker in lockers.values():
            locker.close()
        admin.close()

    for entry_id in entry_ids:
        assert _committed(*effects[entry_id]), f"{effects[entry_id][0]} {entry_id} lost"
    assert redis_client.xlen(keys.dlq_stream()) == 0
    for order in orders:
        order.refresh_from_db()
        assert (order.status, order.filled_quantity) == (OrderStatus.FILLED, Decimal("10"))
        assert Fill.objects.filter(order=order).count() == 1
    assert Position.objects.get(account=orders[0].account).quantity == Decimal("10") * ORDERS


def test_killing_the_bridges_connection_mid_batch_loses_no_event_and_acknowledges_none_early(redis_client, submit):
    _run_burst_under_kills(redis_client, submit, kills=[2, 6, 9])


def test_a_batch_whose_connection_is_killed_again_and_again_is_retried_not_dead_lettered(redis_client, submit):
    """More kills on one entry than ``max_failures``: a database fault is never the entry's fault."""
    _run_burst_under_kills(redis_client, submit, kills=[3] * 6)
