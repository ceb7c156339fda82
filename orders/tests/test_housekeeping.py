"""Hourly retention deletes: only what has outlived its use goes, and the task is on beat."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import OutboxMessage
from accounts.services import outbox_enqueue
from orders.housekeeping import housekeeping_run
from orders.models import PendingCommission
from orders.tasks import housekeeping_run as housekeeping_task
from tradeconsole.celery import app

pytestmark = pytest.mark.django_db


def _outbox(*, acknowledged_days_ago: float | None, published: bool = True) -> OutboxMessage:
    row = outbox_enqueue(type="order.cancel", data={"client_order_id": "x"})
    now = timezone.now()
    OutboxMessage.objects.filter(pk=row.pk).update(
        published_at=now - timedelta(days=40) if published else None,
        acknowledged_at=None if acknowledged_days_ago is None else now - timedelta(days=acknowledged_days_ago),
    )
    return row


def _commission(exec_id: str, *, days_ago: float) -> PendingCommission:
    row = PendingCommission.objects.create(exec_id=exec_id, commission=Decimal("1.00"), currency="USD")
    PendingCommission.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(days=days_ago))
    return row


def test_old_acknowledged_outbox_rows_go_and_unacknowledged_ones_stay_whatever_their_age():
    old = _outbox(acknowledged_days_ago=31)
    recent = _outbox(acknowledged_days_ago=29)
    never_acknowledged = _outbox(acknowledged_days_ago=None)
    unpublished = _outbox(acknowledged_days_ago=None, published=False)

    report = housekeeping_run()

    assert report.outbox_messages == 1
    remaining = set(OutboxMessage.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, never_acknowledged.pk, unpublished.pk}
    assert old.pk not in remaining


def test_a_commission_report_whose_execution_never_came_goes_after_a_week_and_is_logged(caplog):
    _commission("0000e0d5.01", days_ago=8)
    kept = _commission("0000e0d5.02", days_ago=1)

    report = housekeeping_run()

    assert report.pending_commissions == 1
    assert list(PendingCommission.objects.values_list("pk", flat=True)) == [kept.pk]
    assert "0000e0d5.01" in caplog.text


def test_running_twice_deletes_nothing_the_second_time():
    _outbox(acknowledged_days_ago=31)
    _commission("0000e0d5.03", days_ago=8)
    housekeeping_run()

    assert housekeeping_run().as_dict() == {
        "idempotency_keys": 0,
        "api_tokens": 0,
        "outbox_messages": 0,
        "pending_commissions": 0,
    }


def test_the_task_runs_the_service_and_beat_schedules_it_hourly():
    _outbox(acknowledged_days_ago=31)

    assert housekeeping_task()["outbox_messages"] == 1
    entry = app.conf.beat_schedule["housekeeping-run"]
    assert entry["task"] == "orders.tasks.housekeeping_run"
    assert entry["schedule"] == 3600


def test_expired_api_tokens_go_and_live_ones_stay():
    from knox.models import AuthToken

    from accounts.tests.factories import UserFactory

    user = UserFactory()
    expired, _ = AuthToken.objects.create(user=user, expiry=timedelta(hours=1))
    live, _ = AuthToken.objects.create(user=user, expiry=timedelta(hours=1))
    AuthToken.objects.filter(pk=expired.pk).update(expiry=timezone.now() - timedelta(seconds=1))

    assert housekeeping_run().api_tokens == 1
    assert list(AuthToken.objects.values_list("pk", flat=True)) == [live.pk]
