"""The bridge acknowledges outbox commands by what the worker's events prove it read.

A status the worker produced before it read a modify must not mark the modify
received (the relay would then never republish a modify Redis lost); an event naming its command
(``command_id``) marks exactly that command.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import OutboxMessage
from execution_worker import messages as m
from orders.services import order_modify
from streams import relay
from streams.tests.harness import accepted_and_working, apply_events

pytestmark = pytest.mark.django_db


def working_status(order, remaining: str, command_id: str | None = None) -> m.OrderStatus:
    return m.OrderStatus(
        client_order_id=str(order.client_order_id),
        order_id=7,
        perm_id=900001,
        status="Submitted",
        filled=Decimal(0),
        remaining=Decimal(remaining),
        avg_fill_price=Decimal(0),
        command_id=command_id,
    )


def modify_row() -> OutboxMessage:
    return OutboxMessage.objects.get(type="order.modify")


def test_a_status_that_names_no_command_does_not_acknowledge_a_modify(redis_client, bridge, submit, trader):
    order = submit(quantity=Decimal("200"))
    relay.publish_pending()
    apply_events(redis_client, bridge, *accepted_and_working(order, "200"))
    order_modify(order=order, actor=trader, quantity=100, via="test")
    relay.publish_pending()
    apply_events(redis_client, bridge, working_status(order, "200"))
    assert modify_row().acknowledged_at is None
    assert OutboxMessage.objects.get(type="order.place").acknowledged_at is not None


def test_a_status_naming_the_modify_acknowledges_exactly_that_command(redis_client, bridge, submit, trader):
    order = submit(quantity=Decimal("200"))
    relay.publish_pending()
    apply_events(redis_client, bridge, *accepted_and_working(order, "200"))
    order_modify(order=order, actor=trader, quantity=150, via="test")
    order_modify(order=order, actor=trader, quantity=100, via="test")
    relay.publish_pending()
    first, second = OutboxMessage.objects.filter(type="order.modify").order_by("id")
    apply_events(redis_client, bridge, working_status(order, "150", command_id=str(first.message_id)))
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.acknowledged_at is not None
    assert second.acknowledged_at is None


def test_a_final_status_acknowledges_every_command_of_the_order(redis_client, bridge, submit, trader):
    order = submit(quantity=Decimal("200"))
    relay.publish_pending()
    apply_events(redis_client, bridge, *accepted_and_working(order, "200"))
    order_modify(order=order, actor=trader, quantity=100, via="test")
    relay.publish_pending()
    cancelled = m.OrderStatus(
        client_order_id=str(order.client_order_id),
        order_id=7,
        perm_id=900001,
        status="Cancelled",
        filled=Decimal(0),
        remaining=Decimal(0),
        avg_fill_price=Decimal(0),
    )
    apply_events(redis_client, bridge, cancelled)
    assert modify_row().acknowledged_at is not None
