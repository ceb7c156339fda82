"""Broker events applied to orders: forward only, idempotent by message id, filled only grows."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Alert, AuditLog, BrokerAccount
from orders.models import Instrument, Order, OrderEvent, OrderStatus
from orders.services import (
    fill_record,
    order_apply_broker_status,
    order_mark_accepted,
    order_mark_rejected,
    order_mark_unknown,
)
from orders.tests.factories import OrderFactory
from orders.transitions import RANK

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(account, instrument):
    return OrderFactory(account=account, instrument=instrument, quantity=Decimal("100"))


def status(order, word, filled=0, remaining=None, avg=None, message_id=None, **more):
    remaining = Decimal(order.quantity) - Decimal(filled) if remaining is None else remaining
    return order_apply_broker_status(
        client_order_id=order.client_order_id,
        status=word,
        filled=filled,
        remaining=remaining,
        avg_fill_price=avg,
        message_id=message_id,
        **more,
    )


def test_an_accepted_order_is_submitted_with_its_ib_order_id(order):
    order_mark_accepted(client_order_id=order.client_order_id, order_id=42, message_id=uuid.uuid4())
    order.refresh_from_db()
    assert (order.status, order.ib_order_id) == (OrderStatus.SUBMITTED, 42)
    assert order.submitted_at is not None
    event = order.events.get()
    assert (event.kind, event.from_status, event.to_status, event.applied) == (
        "order.accepted",
        "NEW",
        "SUBMITTED",
        True,
    )
    assert AuditLog.objects.filter(action="order.accepted", object_id=str(order.pk)).exists()


def test_a_redelivered_message_changes_nothing(order):
    message_id = uuid.uuid4()
    status(order, "Submitted", message_id=message_id, perm_id=9001)
    status(order, "Submitted", message_id=message_id, perm_id=9001)
    assert order.events.count() == 1
    order.refresh_from_db()
    assert (order.status, order.perm_id) == (OrderStatus.SUBMITTED, 9001)


def test_events_of_an_unknown_order_return_none_and_write_nothing():
    unknown = uuid.uuid4()
    assert order_mark_accepted(client_order_id=unknown, order_id=1) is None
    assert (
        order_apply_broker_status(client_order_id=unknown, status="Filled", filled=1, remaining=0, avg_fill_price=1)
        is None
    )
    assert order_mark_rejected(client_order_id="garbage", code="x", reason="y") is None
    assert OrderEvent.objects.count() == 0


def test_a_rejection_records_its_code_and_reason_and_is_final(order):
    order_mark_rejected(client_order_id=order.client_order_id, code="risk.max_notional", reason="Too big")
    order.refresh_from_db()
    assert (order.status, order.reject_code, order.reject_reason) == ("REJECTED", "risk.max_notional", "Too big")
    assert order.completed_at is not None
    status(order, "Submitted")
    order.refresh_from_db()
    assert order.status == OrderStatus.REJECTED
    assert order.events.last().applied is False


def test_a_late_rejection_of_a_filled_order_is_recorded_and_ignored(order):
    status(order, "Filled", filled=100, avg="100.5")
    order_mark_rejected(client_order_id=order.client_order_id, code="broker.201", reason="late")
    order.refresh_from_db()
    assert (order.status, order.reject_code) == (OrderStatus.FILLED, "")
    late = order.events.last()
    assert (late.kind, late.applied, late.to_status) == ("order.rejected", False, "REJECTED")
    assert "backward" in late.detail


def test_an_unknown_outcome_is_submit_unknown_and_raises_one_critical_alert(order):
    order_mark_unknown(client_order_id=order.client_order_id, order_id=7, reason="socket closed")
    order_mark_unknown(client_order_id=order.client_order_id, order_id=7, reason="socket closed")
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMIT_UNKNOWN
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity, alert.account) == ("order.unknown", "critical", order.account)
    # Reconciliation settles it.
    status(order, "Submitted")
    order.refresh_from_db()
    assert order.status == OrderStatus.SUBMITTED


def test_partial_fills_move_the_order_to_partially_filled_and_filled(order):
    status(order, "Submitted")
    status(order, "Submitted", filled=40, avg="100.10")
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.average_fill_price) == (
        OrderStatus.PARTIALLY_FILLED,
        Decimal("40"),
        Decimal("100.10"),
    )
    status(order, "Submitted", filled=70, avg="100.20")
    status(order, "Filled", filled=100, avg="100.30")
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.average_fill_price) == (
        OrderStatus.FILLED,
        Decimal("100"),
        Decimal("100.30"),
    )
    assert order.completed_at is not None


def test_a_stale_status_with_less_filled_does_not_lower_the_filled_quantity(order):
    status(order, "Submitted", filled=70, avg="100.20")
    status(order, "Submitted", filled=40, avg="100.10")
    order.refresh_from_db()
    assert (order.filled_quantity, order.average_fill_price) == (Decimal("70"), Decimal("100.20"))


def test_a_late_submitted_does_not_undo_a_cancel_request(order):
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCEL_REQUESTED)
    status(order, "Submitted", filled=10, avg="99")
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCEL_REQUESTED
    assert order.filled_quantity == Decimal("10")
    status(order, "Cancelled", filled=10)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED


def test_an_unknown_status_word_is_recorded_and_ignored(order):
    status(order, "Mystery")
    order.refresh_from_db()
    assert order.status == OrderStatus.NEW
    event = order.events.get()
    assert not event.applied
    assert "Mystery" in event.detail


WORDS = [
    "ApiPending",
    "PendingSubmit",
    "PreSubmitted",
    "Submitted",
    "PendingCancel",
    "ApiCancelled",
    "Cancelled",
    "Filled",
    "Inactive",
    "Bogus",
]
broker_events = st.lists(
    st.one_of(
        st.tuples(st.just("status"), st.sampled_from(WORDS), st.integers(min_value=0, max_value=100)),
        st.tuples(st.just("accepted"), st.just(""), st.just(0)),
        st.tuples(st.just("rejected"), st.just(""), st.just(0)),
        st.tuples(st.just("unknown"), st.just(""), st.just(0)),
        st.tuples(st.just("fill"), st.just(""), st.integers(min_value=1, max_value=40)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=broker_events)
def test_random_event_sequences_never_move_an_order_backwards(account, instrument, events):
    order = OrderFactory(account=account, instrument=instrument, quantity=Decimal("100"))
    seen_rank, seen_filled = RANK[OrderStatus.NEW], Decimal("0")
    for kind, word, filled in events:
        message_id = uuid.uuid4()
        if kind == "status":
            status(order, word, filled=filled, avg="100", message_id=message_id)
        elif kind == "accepted":
            order_mark_accepted(client_order_id=order.client_order_id, order_id=5, message_id=message_id)
        elif kind == "rejected":
            order_mark_rejected(client_order_id=order.client_order_id, code="c", reason="r", message_id=message_id)
        elif kind == "fill":
            fill_record(
                exec_id=f"{order.pk}.{message_id}",
                account=account,
                instrument=instrument,
                side="BUY",
                quantity=filled,
                price=Decimal("100"),
                executed_at=timezone.now(),
                order=order,
                message_id=message_id,
            )
        else:
            order_mark_unknown(client_order_id=order.client_order_id, reason="r", message_id=message_id)
        order.refresh_from_db()
        assert RANK[order.status] >= seen_rank
        assert order.filled_quantity >= seen_filled
        seen_rank, seen_filled = RANK[order.status], order.filled_quantity
        # Every event is recorded, applied or not.
        assert order.events.filter(message_id=message_id).count() == 1


def test_a_repeated_partial_status_with_nothing_new_is_recorded_as_not_applied(order):
    status(order, "Submitted", filled=40, avg="100.10")
    status(order, "Submitted", filled=40, avg="100.10")
    first, second = order.events.order_by("id")
    assert (first.applied, second.applied) == (True, False)


def _lock_free_elsewhere(model, pk) -> bool:
    """Whether another connection can lock row ``pk`` of ``model`` at once (NOWAIT)."""
    free = {}

    def other() -> None:
        try:
            with transaction.atomic():
                model.objects.select_for_update(nowait=True).get(pk=pk)
            free["yes"] = True
        except DatabaseError:
            free["yes"] = False
        finally:
            connection.close()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    return free["yes"]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_broker_status_locks_its_order_and_leaves_the_account_and_instrument_free(account, instrument):
    """Order entry (whose INSERT references the account) and price updates need not wait for the bridge."""
    order = OrderFactory(account=account, instrument=instrument, quantity=Decimal("100"))
    with transaction.atomic():
        status(order, "Submitted", message_id=uuid.uuid4())
        held = {
            "order": _lock_free_elsewhere(Order, order.pk),
            "account": _lock_free_elsewhere(BrokerAccount, account.pk),
            "instrument": _lock_free_elsewhere(Instrument, instrument.pk),
        }
    assert held == {"order": False, "account": True, "instrument": True}


def test_a_broker_status_inside_a_transaction_sets_no_savepoint_and_reads_the_order_once(order):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        status(order, "Submitted", message_id=uuid.uuid4())
    statements = [query["sql"] for query in queries.captured_queries]
    assert not [sql for sql in statements if "SAVEPOINT" in sql]
    order_reads = [sql for sql in statements if sql.startswith("SELECT") and 'FROM "orders_order"' in sql]
    assert len(order_reads) == 1 and "FOR UPDATE" in order_reads[0] and "ORDER BY" not in order_reads[0]
