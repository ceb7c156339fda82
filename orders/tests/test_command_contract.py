"""Every command the services queue decodes under the worker's strict stream contract."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import OutboxMessage
from accounts.services import account_halt, account_resume, kill_switch_engage, kill_switch_release
from execution_worker import messages
from orders.services import order_cancel, order_modify
from orders.tests.helpers import submit

pytestmark = pytest.mark.django_db


def decoded(row: OutboxMessage) -> messages.Message:
    """Decode an outbox row the way the worker reads the entry the relay XADDs."""
    return messages.decode(
        {"v": "1", "type": row.type, "id": str(row.message_id), "ts": str(time.time_ns()), "data": json.dumps(row.data)}
    )


def test_every_queued_command_is_a_valid_stream_message(trader, risk_manager, account, instrument):
    limit = submit(actor=trader, account=account, instrument=instrument, client_order_id=None)
    submit(actor=None, account=account, instrument=instrument, order_type="MKT", limit_price=None, source="scheduler")
    submit(
        actor=None,
        account=account,
        instrument=instrument,
        order_type="STP LMT",
        limit_price=Decimal("99.00"),
        stop_price=Decimal("99.50"),
        side="SELL",
        parent=limit,
        oca_group="oca-1",
        tif="GTC",
        outside_rth=True,
        not_before=timezone.now() + timedelta(minutes=1),
        source="api",
    )
    OutboxMessage.objects.update(published_at=timezone.now())
    order_modify(order=limit, actor=trader, quantity=12, limit_price="100.50", via="test")
    order_cancel(order=limit, actor=trader, reason="changed my mind", via="test")
    account_halt(account=account, actor=risk_manager, reason="Margin", cancel_working=True, via="test")
    account_resume(account=account, actor=risk_manager, via="test")
    kill_switch_engage(actor=risk_manager, reason="Runaway", via="test")
    kill_switch_release(actor=risk_manager, via="test")

    rows = list(OutboxMessage.objects.filter(stream="commands").order_by("id"))
    assert [row.type for row in rows] == [
        "order.place",
        "order.place",
        "order.place",
        "order.modify",
        "order.cancel",
        "trading.halt",
        "trading.resume",
        "trading.halt",
        "trading.resume",
    ]
    results = [decoded(row) for row in rows]
    place = results[2]
    assert (place.limit_price, place.stop_price, place.parent_client_order_id) == (
        Decimal("99"),
        Decimal("99.5"),
        str(limit.client_order_id),
    )
    assert results[5].mode == "cancel_all"
    assert results[7].account is None
