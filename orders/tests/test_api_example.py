"""examples/place_order.py against a live server: it places the order, sees the fill, prints it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken

from orders import services
from orders.models import Order

ROOT = Path(__file__).resolve().parents[2]


def _broker_fills_the_first_order(stop: threading.Event, seen: dict) -> None:
    """Play the worker and the bridge: accept and fill the order the script placed (bounded wait)."""
    try:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            order = Order.objects.select_related("account", "instrument").first()
            if order is None:
                time.sleep(0.05)
                continue
            services.order_mark_accepted(client_order_id=order.client_order_id, order_id=101)
            services.fill_record(
                exec_id="0001f4e8.6558e6b2.01.01",
                account=order.account,
                instrument=order.instrument,
                side=order.side,
                quantity=order.quantity,
                price=Decimal("100.25"),
                executed_at=timezone.now(),
                order=order,
            )
            seen["order"] = order.client_order_id
            return
    finally:
        connection.close()


def _run_example(live_server, trader, broker) -> tuple[subprocess.CompletedProcess, dict]:
    """Run examples/place_order.py for 3 AAPL with a token of ``trader`` while ``broker`` (a thread
    standing in for the worker and TWS) answers the first order; return its run and what it saw."""
    _, token = AuthToken.objects.create(user=trader)
    stop, seen = threading.Event(), {}
    thread = threading.Thread(target=broker, args=(stop, seen))
    thread.start()
    try:
        result = subprocess.run(
            [sys.executable, "examples/place_order.py", "--symbol", "AAPL", "--quantity", "3", "--timeout", "20"],
            cwd=ROOT,
            env={**os.environ, "TRADECONSOLE_URL": live_server.url, "TRADECONSOLE_TOKEN": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    return result, seen


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_example_places_an_order_waits_for_its_fill_and_prints_it(live_server, trader, instrument):
    result, seen = _run_example(live_server, trader, _broker_fills_the_first_order)

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"placed {seen['order']}: BUY 3.0000 AAPL (NEW)" in result.stdout
    assert "fill 0001f4e8.6558e6b2.01.01: BUY 3.0000 AAPL @ 100.250000" in result.stdout
    assert f"order {seen['order']} is FILLED: filled 3.0000 at average 100.250000" in result.stdout


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_example_reports_a_refusal_with_its_code(live_server, trader, instrument):
    _, token = AuthToken.objects.create(user=trader)

    result = subprocess.run(
        [sys.executable, "examples/place_order.py", "--quantity", "100000", "--limit-price", "100.00"],
        cwd=ROOT,
        env={**os.environ, "TRADECONSOLE_URL": live_server.url, "TRADECONSOLE_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert "refused (422 risk.max_quantity)" in result.stderr
    assert not Order.objects.exists()


def _worker_rejects_the_first_order(stop: threading.Event, seen: dict) -> None:
    """Play the worker: reject the order the script placed with a risk code (bounded wait)."""
    try:
        deadline = time.monotonic() + 20
        while not stop.is_set() and time.monotonic() < deadline:
            order = Order.objects.first()
            if order is None:
                time.sleep(0.05)
                continue
            services.order_mark_rejected(
                client_order_id=order.client_order_id,
                code="risk.no_limits",
                reason="no risk limits are published for DU0000001",
            )
            seen["order"] = order.client_order_id
            return
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_example_prints_why_the_worker_rejected_the_order(live_server, trader, instrument):
    result, seen = _run_example(live_server, trader, _worker_rejects_the_first_order)

    assert result.returncode == 1, result.stdout + result.stderr
    assert f"order {seen['order']} is REJECTED: filled 0.0000 at average None" in result.stdout
    assert "rejected (risk.no_limits): no risk limits are published for DU0000001" in result.stdout
