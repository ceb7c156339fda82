"""The event bridge: events applied through the services, idempotent, dead letters, crash before ack."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import OutboxMessage, ProcessHeartbeat
from execution_worker import messages as m
from orders.models import Fill, Order, OrderSource, OrderStatus
from orders.tests.factories import OrderFactory
from streams import keys, live, relay
from streams.bridge import EventBridge
from streams.tests.harness import commit, drain, pending, receive_from_group, xadd
from tradeconsole.tests.database import database_connect, database_url

pytestmark = pytest.mark.django_db


def drain_and_commit(bridge: EventBridge) -> None:
    """Step the bridge dry, then run the commit hooks (its announcements) the test's transaction holds back."""
    drain(bridge)
    commit()


def filled(order, exec_id, qty, price="100.5"):
    return m.OrderFilled(
        client_order_id=str(order.client_order_id),
        order_id=7,
        exec_id=exec_id,
        account=order.account.code,
        symbol=order.instrument.symbol,
        side=order.side,
        quantity=Decimal(qty),
        price=Decimal(price),
        time="2026-11-21T15:00:00+00:00",
    )


def status(order, word, filled_qty, remaining):
    return m.OrderStatus(
        client_order_id=str(order.client_order_id),
        order_id=7,
        perm_id=900001,
        status=word,
        filled=Decimal(filled_qty),
        remaining=Decimal(remaining),
        avg_fill_price=Decimal("100.5") if filled_qty != "0" else Decimal("0"),
    )


def test_accepted_status_and_fills_bring_an_order_to_filled_and_acknowledge_its_command(redis_client, bridge, submit):
    order = submit(quantity=Decimal("10"))
    relay.publish_pending()
    for message in (
        m.OrderAccepted(client_order_id=str(order.client_order_id), order_id=7, account=order.account.code),
        status(order, "Submitted", "0", "10"),
        filled(order, "e1", "4"),
        filled(order, "e2", "6"),
        status(order, "Filled", "10", "0"),
    ):
        xadd(redis_client, message)
    drain(bridge)
    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED and order.filled_quantity == Decimal("10")
    assert Fill.objects.filter(order=order).count() == 2
    assert OutboxMessage.objects.get(type="order.place").acknowledged_at is not None
    assert pending(redis_client) == 0


def test_applied_changes_are_announced_to_the_account_group_with_a_sequence(redis_client, bridge, submit):
    order = submit()
    commit()
    group = live.account_group(order.account_id)
    xadd(
        redis_client,
        m.OrderAccepted(client_order_id=str(order.client_order_id), order_id=7, account=order.account.code),
    )
    message = receive_from_group(group, lambda: drain_and_commit(bridge))
    assert message["type"] == "live.rows" and message["group"] == group and message["seq"] == 2
    order_rows = [r for r in message["rows"] if r["kind"] == "order"]
    assert order_rows[0]["id"] == f"order-{order.pk}" and order_rows[0]["ctx"]["status"] == OrderStatus.SUBMITTED


def test_statuses_after_the_place_is_acknowledged_leave_the_outbox_alone(
    redis_client, bridge, submit, django_capture_on_commit_callbacks
):
    order = submit()
    relay.publish_pending()
    with django_capture_on_commit_callbacks(execute=True):
        xadd(redis_client, status(order, "Submitted", "0", "10"))
        drain(bridge)
    acknowledged_at = OutboxMessage.objects.get(type="order.place").acknowledged_at
    assert acknowledged_at is not None
    with CaptureQueriesContext(connection) as queries:
        xadd(redis_client, status(order, "Submitted", "4", "6"))
        drain(bridge)
    order.refresh_from_db()
    assert order.filled_quantity == Decimal("4")
    assert not [q["sql"] for q in queries.captured_queries if "accounts_outboxmessage" in q["sql"]]
    assert OutboxMessage.objects.get(type="order.place").acknowledged_at == acknowledged_at


def test_a_status_before_the_place_is_published_still_lets_a_later_status_acknowledge_it(
    redis_client, bridge, submit, django_capture_on_commit_callbacks
):
    order = submit()
    with django_capture_on_commit_callbacks(execute=True):
        xadd(redis_client, status(order, "Submitted", "0", "10"))
        drain(bridge)
    relay.publish_pending()
    assert OutboxMessage.objects.get(type="order.place").acknowledged_at is None
    xadd(redis_client, status(order, "Submitted", "4", "6"))
    drain(bridge)
    assert OutboxMessage.objects.get(type="order.place").acknowledged_at is not None


def test_a_batch_announces_its_orders_newest_first(redis_client, bridge, submit):
    first, second = submit(), submit()
    commit()
    for order in (first, second):
        xadd(redis_client, status(order, "Submitted", "0", "10"))
    bridge.batch_size = 10
    message = receive_from_group(live.account_group(first.account_id), lambda: drain_and_commit(bridge))
    assert [r["id"] for r in message["rows"] if r["kind"] == "order"] == [f"order-{second.pk}", f"order-{first.pk}"]


def test_the_account_row_counts_the_orders_still_working_after_the_event(
    redis_client, bridge, submit, other_account, instrument
):
    first, _second = submit(quantity=Decimal("10")), submit(quantity=Decimal("10"))
    OrderFactory(account=other_account, instrument=instrument)
    xadd(redis_client, status(first, "Filled", "10", "0"))
    message = receive_from_group(live.account_group(first.account_id), lambda: drain_and_commit(bridge))
    account_row = next(r for r in message["rows"] if r["kind"] == "account")
    assert account_row["ctx"]["open_orders"] == 1


def test_the_account_row_is_sent_again_only_when_an_order_stops_or_starts_working(redis_client, bridge, submit):
    order = submit(quantity=Decimal("10"))
    group = live.account_group(order.account_id)

    def kinds(message) -> dict:
        return {r["kind"]: r["ctx"] for r in message["rows"]}

    def apply(message):
        xadd(redis_client, message)
        return kinds(receive_from_group(group, lambda: drain_and_commit(bridge)))

    # A new working order changes its account's count of working orders.
    assert set(kinds(receive_from_group(group, commit))) == {"order", "account"}
    assert set(apply(status(order, "Submitted", "0", "10"))) == {"order"}
    assert set(apply(status(order, "Submitted", "4", "6"))) == {"order"}
    final = apply(status(order, "Filled", "10", "0"))
    assert final["order"]["status"] == OrderStatus.FILLED and final["account"]["open_orders"] == 0


def test_an_account_row_that_did_not_go_out_is_sent_with_the_next_event_of_the_order(
    redis_client, bridge, sender, submit, monkeypatch
):
    order = submit(quantity=Decimal("10"))
    commit()
    xadd(redis_client, status(order, "Submitted", "0", "10"))
    drain_and_commit(bridge)
    with monkeypatch.context() as refused:
        refused.setattr(sender, "send", lambda *args, **kwargs: False)  # Redis refused the rows' sequence number
        xadd(redis_client, status(order, "Filled", "10", "0"))
        drain_and_commit(bridge)

    xadd(redis_client, status(order, "Filled", "10", "0"))
    message = receive_from_group(live.account_group(order.account_id), lambda: drain_and_commit(bridge))

    account_row = next(r for r in message["rows"] if r["kind"] == "account")
    assert account_row["ctx"]["open_orders"] == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_duplicated_and_reordered_events_end_filled_with_two_fills(redis_client, bridge, submit, data):
    """T13: any order and duplication of Submitted, Partial(e1), Filled(e2), e1 again, late Submitted."""
    order = submit(quantity=Decimal("10"))
    events = [
        status(order, "Submitted", "0", "10"),
        filled(order, "e1-" + str(order.pk), "4"),
        status(order, "Submitted", "4", "6"),
        filled(order, "e2-" + str(order.pk), "6"),
        status(order, "Filled", "10", "0"),
    ]
    shuffled = data.draw(st.permutations(events))
    duplicates = data.draw(st.lists(st.sampled_from(events), max_size=4))
    for message in [*shuffled, *duplicates]:
        xadd(redis_client, message)
    drain(bridge)
    order.refresh_from_db()
    assert order.status == OrderStatus.FILLED
    assert order.filled_quantity == Decimal("10")
    assert Fill.objects.filter(order=order).count() == 2
    assert pending(redis_client) == 0


def test_an_undecodable_event_is_dead_lettered_with_its_code_and_acknowledged(redis_client, bridge):
    redis_client.xadd(
        keys.events_stream(),
        {"v": "1", "type": "order.status", "id": str(uuid.uuid4()), "ts": "1", "data": "{not json"},
    )
    drain(bridge)
    ((_, dead),) = redis_client.xrange(keys.dlq_stream())
    assert dead["code"] == m.UNDECODABLE and dead["stream"] == keys.events_stream()
    assert pending(redis_client) == 0


def test_an_event_for_an_unknown_account_is_dead_lettered_and_later_events_still_apply(redis_client, bridge, submit):
    order = submit()
    xadd(redis_client, m.AccountValues(account="DU9999999", values={"NetLiquidation": "1"}))
    xadd(
        redis_client,
        m.OrderAccepted(client_order_id=str(order.client_order_id), order_id=7, account=order.account.code),
    )
    drain(bridge)
    ((_, dead),) = redis_client.xrange(keys.dlq_stream())
    assert dead["code"] == "bridge.unapplicable" and "DU9999999" in dead["reason"]
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


def test_a_strategy_order_seen_first_in_events_is_recorded_with_source_strategy(
    redis_client, bridge, account, instrument
):
    client_order_id = str(uuid.uuid4())
    xadd(
        redis_client,
        m.OrderStatus(
            client_order_id=client_order_id,
            order_id=55,
            perm_id=777,
            status="Submitted",
            filled=Decimal("0"),
            remaining=Decimal("5"),
            avg_fill_price=Decimal("0"),
            account=account.code,
            symbol=instrument.symbol,
            side="SELL",
            quantity=Decimal("5"),
            order_type="MKT",
        ),
    )
    drain(bridge)
    order = Order.objects.get(client_order_id=client_order_id)
    assert order.source == OrderSource.STRATEGY and order.status == OrderStatus.SUBMITTED and order.perm_id == 777


def test_an_order_placed_in_tws_is_recorded_as_external_keyed_by_perm_id(redis_client, bridge, account, instrument):
    external = m.OrderStatus(
        client_order_id="",
        order_id=0,
        perm_id=424242,
        status="Filled",
        filled=Decimal("3"),
        remaining=Decimal("0"),
        avg_fill_price=Decimal("99"),
        external=True,
        account=account.code,
        symbol=instrument.symbol,
        side="BUY",
        quantity=Decimal("3"),
        order_type="LMT",
        limit_price=Decimal("99"),
    )
    xadd(redis_client, external)
    # The same report again under a new message id (a reconnect replays open orders).
    xadd(redis_client, dataclasses.replace(external, id=str(uuid.uuid4())))
    drain(bridge)
    order = Order.objects.get(perm_id=424242)
    assert order.source == OrderSource.EXTERNAL and order.status == OrderStatus.FILLED
    assert Order.objects.filter(perm_id=424242).count() == 1


def test_gateway_status_and_heartbeats_update_the_execution_heartbeat_row(redis_client, bridge):
    xadd(redis_client, m.GatewayStatus(state="ready", server_version=157, detail="connected"))
    xadd(
        redis_client,
        m.WorkerHeartbeat(
            worker="w1",
            started_at=time.time_ns(),
            in_flight=0,
            pacing_tokens=Decimal("40"),
            latency_ms={"p50": 0.4, "p99": 1.2},
        ),
    )
    drain(bridge)
    beat = ProcessHeartbeat.objects.get(name="execution")
    assert beat.state == "ready" and beat.data["latency_ms"]["p99"] == 1.2


def _bridge_env(**extra) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    env.update(extra)
    return env


def _wait(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_bridge_killed_after_commit_before_ack_applies_the_redelivery_as_a_no_op(redis_client, submit):
    """T14: FAULTPOINTS=after_db_update_before_xack kills the bridge; the restarted one reads its pending first."""
    order = submit(quantity=Decimal("10"))
    xadd(redis_client, filled(order, "kill-1", "10"))
    command = [sys.executable, "manage.py", "stream_bridge", "--bridge-only", "--consumer", "bridge-t14"]
    first = subprocess.run(
        command,
        env=_bridge_env(FAULTPOINTS="after_db_update_before_xack"),
        timeout=60,
        capture_output=True,
        cwd=os.getcwd(),
    )
    assert first.returncode == 137, first.stderr.decode()[-2000:]
    assert Fill.objects.filter(exec_id="kill-1").count() == 1
    assert pending(redis_client) == 1
    second = subprocess.Popen(command, env=_bridge_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert _wait(lambda: pending(redis_client) == 0), "the restarted bridge did not acknowledge its pending entry"
    finally:
        second.terminate()
        second.wait(10)
    assert Fill.objects.filter(exec_id="kill-1").count() == 1
    order.refresh_from_db()
    assert order.filled_quantity == Decimal("10")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_bridge_survives_its_database_connection_being_killed(redis_client, submit):
    """T29: pg_terminate_backend under a running bridge; the next event is still applied."""
    order = submit(quantity=Decimal("10"))
    command = [sys.executable, "manage.py", "stream_bridge", "--bridge-only", "--consumer", "bridge-t29"]
    process = subprocess.Popen(command, env=_bridge_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        xadd(redis_client, filled(order, "pg-1", "4"))
        assert _wait(lambda: Fill.objects.filter(exec_id="pg-1").exists())
        dbname = connection.get_connection_params()["dbname"]
        with database_connect(dbname="postgres", autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
                " AND application_name <> 'pytest-main'",
                [dbname],
            )
        connection.close()
        xadd(redis_client, filled(order, "pg-2", "6"))
        assert _wait(lambda: Fill.objects.filter(exec_id="pg-2").exists()), "the bridge did not recover"
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(10)
