"""An order command the worker dead-letters becomes a visible state of its order (issue 15, finding 4).

Through the real path: the relay publishes to Redis, the worker (a subprocess, against the paper
TWS over its socket) dead-letters the command, the relay's sweep reads the dead-letter stream,
the bridge applies the worker's events.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.conf import settings

from accounts.models import Alert, OutboxMessage
from execution_worker.tests.harness import WorkerProcess, wait_until
from orders.models import OrderStatus
from orders.services import order_cancel, order_command_dead_lettered
from streams import keys, relay
from streams.dead_letters import dead_letters_settle
from tws_simulator import Simulator, SimulatorConfig

pytestmark = pytest.mark.django_db

BELL = "bell\u0007in reason"


@pytest.fixture
def desk(redis_client, account):
    """The paper TWS and the execution worker on this test's Redis prefix, limits published."""
    sim = Simulator(SimulatorConfig(host="127.0.0.1", port=0, accounts=[account.code], seed=1, market_interval=0))
    sim.start()
    worker = WorkerProcess(redis_url=settings.REDIS_URL, prefix=settings.STREAM_PREFIX, port=sim.port, client_id=31)
    try:
        # No market data here, so no collar (the worker would refuse every limit order without a last price).
        redis_client.set(keys.risk_limits_key(account.code), json.dumps({"max_order_quantity": 100_000}))
        yield sim, worker
    finally:
        worker.close()
        sim.stop()


def pump(bridge, until, what: str, timeout: float = 30.0):
    """Publish the outbox and step the bridge until ``until()`` holds (bounded)."""

    def step():
        relay.publish_pending()
        bridge.step()
        return until()

    return wait_until(step, timeout=timeout, interval=0.05, what=what)


def dead_letters(client) -> list[dict]:
    return [fields for _, fields in client.xrange(keys.dlq_stream())]


def corrupt_cancel_reason(order) -> OutboxMessage:
    """What entry checks are the first line against: a cancel whose text the worker refuses
    (written past them, as an older producer or a rule that drifted would)."""
    command = OutboxMessage.objects.get(type="order.cancel", data__client_order_id=str(order.client_order_id))
    command.data = {**command.data, "reason": BELL}
    command.save(update_fields=["data"])
    return command


def test_a_cancel_the_worker_dead_letters_returns_the_order_to_work_with_an_alert_and_a_retry_cancels_it(
    desk, redis_client, bridge, submit, trader
):
    order = submit()
    pump(bridge, lambda: _status(order) == OrderStatus.SUBMITTED, "the order accepted by TWS")

    order_cancel(order=order, actor=trader, reason="first try", via="test")
    command = corrupt_cancel_reason(order)
    relay.publish_pending()
    wait_until(lambda: dead_letters(redis_client), timeout=30, what="the worker to dead-letter the cancel")
    assert dead_letters(redis_client)[0]["code"] == "message.bad_field"
    assert _status(order) == OrderStatus.CANCEL_REQUESTED

    assert dead_letters_settle(client=redis_client) == 1

    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED
    event = order.events.get(kind="cancel_rejected")
    assert event.message_id == command.message_id and "message.bad_field" in event.detail
    alert = Alert.objects.get(kind="order.cancel_refused")
    assert str(order.client_order_id) in alert.data["client_order_id"] and alert.account == order.account
    command.refresh_from_db()
    assert command.acknowledged_at is not None
    # Answered: the sweep no longer republishes it, and settling again changes nothing.
    assert relay.republish_unacknowledged(older_than=_zero(), client=redis_client) == 0
    assert dead_letters_settle(client=redis_client) == 0
    assert order.events.filter(kind="cancel_rejected").count() == 1

    order_cancel(order=order, actor=trader, reason="clean retry", via="test")
    pump(bridge, lambda: _status(order) == OrderStatus.CANCELLED, "the clean cancel to reach TWS")
    assert len(dead_letters(redis_client)) == 1


def test_the_relay_loop_settles_dead_letters_before_republishing(redis_client, submit, trader):
    order = submit()
    relay.publish_pending(client=redis_client)
    OutboxMessage.objects.update(acknowledged_at=None)
    order_cancel(order=order, actor=trader, reason="x", via="test")
    relay.publish_pending(client=redis_client)
    command = OutboxMessage.objects.get(type="order.cancel")
    OutboxMessage.objects.filter(pk=command.pk).update(published_at=command.published_at.replace(year=2000))
    _dead_letter_by_hand(redis_client, command)

    loop = relay.RelayLoop(poll_seconds=0.01, sweep_seconds=0)
    loop._next_sweep = time.monotonic()
    loop.step()

    order.refresh_from_db()
    command.refresh_from_db()
    assert (order.status, command.acknowledged_at is not None, command.publish_count) == (
        OrderStatus.NEW,
        True,
        1,
    )


def test_an_undecodable_place_is_rejected_and_one_that_failed_inside_the_worker_is_unknown(submit):
    undecodable, failed = submit(), submit(quantity=11)
    order_command_dead_lettered(
        client_order_id=undecodable.client_order_id,
        action="place",
        code="message.bad_field",
        reason="oca_group: must be printable ASCII",
        message_id=uuid.uuid4(),
    )
    order_command_dead_lettered(
        client_order_id=failed.client_order_id, action="place", code="worker.failed", reason="boom"
    )

    assert (_status(undecodable), _status(failed)) == (OrderStatus.REJECTED, OrderStatus.SUBMIT_UNKNOWN)
    assert Alert.objects.get(kind="order.command_failed").data["client_order_id"] == str(undecodable.client_order_id)
    assert Alert.objects.filter(kind="order.unknown", data__client_order_id=str(failed.client_order_id)).exists()


def _dead_letter_by_hand(client, command: OutboxMessage) -> None:
    fields = relay.stream_fields(command)
    client.xadd(
        keys.dlq_stream(),
        {**fields, "code": "message.bad_field", "reason": "reason: bad", "stream": keys.commands_stream()},
    )


def _status(order) -> str:
    order.refresh_from_db(fields=["status"])
    return order.status


def _zero():
    from datetime import timedelta

    return timedelta(0)
