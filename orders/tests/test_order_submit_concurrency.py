"""order_submit under concurrency: the account lock keeps limits and duplicate ids exact."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.models import AuditLog, OutboxMessage
from orders.exceptions import RiskMaxPosition
from orders.models import Order, OrderEvent
from orders.services import risk_limit_update
from orders.tests.helpers import run_together, submit


@pytest.mark.django_db(transaction=True)
def test_a_client_order_id_posted_four_times_at_once_creates_one_order(trader, account, instrument):
    client_order_id = uuid.uuid4()
    results, errors = run_together(
        4, lambda n: submit(actor=trader, account=account, instrument=instrument, client_order_id=client_order_id)
    )
    assert errors == []
    assert {order.pk for order in results} == {Order.objects.get().pk}
    assert (OrderEvent.objects.count(), AuditLog.objects.count(), OutboxMessage.objects.count()) == (1, 1, 1)


@pytest.mark.django_db(transaction=True)
def test_a_duplicate_post_waiting_on_the_lock_returns_the_order_even_if_it_now_breaches_a_limit(
    trader, risk_manager, account, instrument
):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", max_position=100)
    client_order_id = uuid.uuid4()
    results, errors = run_together(
        4,
        lambda n: submit(
            actor=trader,
            account=account,
            instrument=instrument,
            quantity=Decimal("100"),
            client_order_id=client_order_id,
        ),
    )
    assert errors == []
    assert len({order.pk for order in results}) == 1


@pytest.mark.django_db(transaction=True)
def test_orders_racing_for_the_last_of_the_position_limit_cannot_both_pass(trader, risk_manager, account, instrument):
    risk_limit_update(risk_limit=account.risk_limit, actor=risk_manager, via="test", max_position=100)
    results, errors = run_together(
        4, lambda n: submit(actor=trader, account=account, instrument=instrument, quantity=Decimal("60"))
    )
    assert len(results) == 1
    assert len(errors) == 3
    assert all(isinstance(error, RiskMaxPosition) for error in errors)
    assert Order.objects.count() == 1


@pytest.mark.django_db
def test_a_failure_after_order_submit_rolls_back_the_order_its_event_audit_row_and_command(trader, account, instrument):
    with pytest.raises(RuntimeError), transaction.atomic():
        submit(actor=trader, account=account, instrument=instrument)
        raise RuntimeError("the caller fails after the service")
    assert (
        Order.objects.count(),
        OrderEvent.objects.count(),
        AuditLog.objects.count(),
        OutboxMessage.objects.count(),
    ) == (0, 0, 0, 0)
