"""The outbox relay: order, no skips under concurrent commits, crash points, the sweep, the fast path."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import OutboxMessage
from accounts.services import outbox_enqueue
from execution_worker import messages
from streams import keys, relay
from streams.tests.harness import stream_entries
from tradeconsole.tests.database import database_url

pytestmark = pytest.mark.django_db


def _commands(client):
    return stream_entries(client, keys.commands_stream())


def test_relay_publishes_committed_rows_in_id_order_and_marks_them(redis_client, submit):
    orders = [submit() for _ in range(3)]
    assert relay.publish_pending() == 3
    entries = _commands(redis_client)
    assert [e[1]["data"]["client_order_id"] for e in entries] == [str(o.client_order_id) for o in orders]
    assert not OutboxMessage.objects.filter(published_at__isnull=True).exists()
    assert relay.publish_pending() == 0


def test_relay_entries_follow_the_stream_contract(redis_client, submit):
    order = submit()
    relay.publish_pending()
    ((_entry_id, fields),) = redis_client.xrange(keys.commands_stream())
    message = messages.decode(fields)
    assert isinstance(message, messages.OrderPlace)
    assert message.client_order_id == str(order.client_order_id)
    assert message.id == str(OutboxMessage.objects.get().message_id)


def test_risk_rows_set_the_account_limits_key_instead_of_xadding(redis_client, account):
    from orders.services import risk_limits_publish

    risk_limits_publish(account=account)
    relay.publish_pending()
    import json

    limits = json.loads(redis_client.get(keys.risk_limits_key(account.code)))
    assert limits["account"] == account.code and "max_order_notional" in limits
    assert redis_client.xlen(keys.commands_stream()) == 0
    assert OutboxMessage.objects.get().acknowledged_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_row_committed_late_under_a_lower_id_is_still_published(redis_client):
    """T6: C1 inserts id n and stays open, C2 commits n+1, the relay runs, then C1 commits."""
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "host", "port", "password")}
    ) as c1:
        c1.execute(
            "INSERT INTO accounts_outboxmessage (message_id, stream, type, data, created_at, publish_count)"
            " VALUES (gen_random_uuid(), 'commands', 'broker.refresh', '{\"what\": [\"positions\"]}', now(), 0)"
            " RETURNING id"
        )
        late_id = c1.execute("SELECT currval(pg_get_serial_sequence('accounts_outboxmessage', 'id'))").fetchone()[0]
        early = outbox_enqueue(type="broker.refresh", data={"what": ["account"]})
        assert early.id > late_id
        assert relay.publish_pending() == 1
        c1.commit()
    assert relay.publish_pending() == 1
    published = [e[1]["id"] for e in _commands(redis_client)]
    late = OutboxMessage.objects.get(pk=late_id)
    assert published == [str(early.message_id), str(late.message_id)]


def _subprocess_env(**extra) -> dict:
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    env.update(extra)
    return env


@pytest.mark.django_db(transaction=True)
def test_a_relay_killed_after_xadd_republishes_the_same_message_once_deduplicated(redis_client, submit):
    """T8: kill -9 between XADD and marking the row; the next pass republishes the same message id."""
    order = submit()
    code = "from streams import relay; relay.publish_pending()"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env=_subprocess_env(FAULTPOINTS="after_xadd_before_mark", DJANGO_SETTINGS_MODULE="tradeconsole.settings"),
        timeout=60,
        capture_output=True,
    )
    assert result.returncode == 137, result.stderr.decode()[-2000:]
    row = OutboxMessage.objects.get()
    assert row.published_at is None
    assert relay.publish_pending() == 1
    entries = _commands(redis_client)
    assert len(entries) == 2
    # What the worker applies: the set of distinct message ids (it deduplicates by id).
    assert {e[1]["id"] for e in entries} == {str(row.message_id)}
    assert {e[1]["data"]["client_order_id"] for e in entries} == {str(order.client_order_id)}


@pytest.mark.django_db(transaction=True)
def test_a_commit_with_no_relay_running_is_published_exactly_once_when_it_starts(redis_client, submit):
    """T7: the order commits while no relay runs (the wake-up is lost); a relay started later sends it once."""
    submit()
    redis_client.delete(keys.relay_wake_key())
    loop = relay.RelayLoop(poll_seconds=0.1)
    loop.step()
    loop.step()
    assert redis_client.xlen(keys.commands_stream()) == 1


def test_the_sweep_republishes_only_unacknowledged_commands_with_the_same_id(redis_client, submit):
    first, second = submit(), submit()
    relay.publish_pending()
    OutboxMessage.objects.update(published_at=timezone.now() - timedelta(seconds=60))
    from streams.services import outbox_acknowledge

    outbox_acknowledge(client_order_id=str(first.client_order_id), types=("order.place",))
    assert relay.republish_unacknowledged(older_than=timedelta(seconds=10)) == 1
    entries = _commands(redis_client)
    assert [e[1]["data"]["client_order_id"] for e in entries][-1] == str(second.client_order_id)
    row = OutboxMessage.objects.get(data__client_order_id=str(second.client_order_id))
    assert entries[-1][1]["id"] == str(row.message_id) and row.publish_count == 2
    assert relay.republish_unacknowledged(older_than=timedelta(seconds=10)) == 0


@pytest.mark.django_db(transaction=True)
def test_a_commit_reaches_the_stream_within_milliseconds_through_the_wake_up(redis_client, submit):
    stop = threading.Event()
    loop = relay.RelayLoop(poll_seconds=5.0, stop=stop)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)  # the loop is now blocked in BLPOP with a 5 s poll
        submit()
        committed = time.monotonic()
        deadline = committed + 2.0
        while redis_client.xlen(keys.commands_stream()) == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        elapsed = time.monotonic() - committed
    finally:
        stop.set()
        redis_client.lpush(keys.relay_wake_key(), "1")
        thread.join(6)
    assert redis_client.xlen(keys.commands_stream()) == 1
    assert elapsed < 0.5, f"took {elapsed * 1000:.0f} ms: the wake-up did not work, the poll did"


def test_the_bridges_receipt_and_the_relays_sweep_read_the_outbox_through_their_indexes(redis_client, submit):
    """Both run all day against an outbox that only grows: a plan reading the whole table is a regression."""
    from django.test.utils import CaptureQueriesContext

    from streams.services import outbox_acknowledge

    order = submit()
    relay.publish_pending()
    with CaptureQueriesContext(connection) as queries:
        outbox_acknowledge(client_order_id=str(order.client_order_id), types=("order.place",))
        relay.republish_unacknowledged(older_than=timedelta(seconds=10))
    receipt, sweep = (q["sql"] for q in queries.captured_queries if "accounts_outboxmessage" in q["sql"])
    with connection.cursor() as cursor:
        # The table is tiny here; without this the planner rightly prefers reading all of it.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plans = []
        for sql in (receipt, sweep):
            cursor.execute("EXPLAIN " + sql)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert re.search(r"\boutbox_unacknowledged_order\b", plans[0]), plans[0]
    assert re.search(r"\boutbox_unacknowledged\b", plans[1]), plans[1]
