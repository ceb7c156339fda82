"""Firing scheduled orders: exactly once per trading date, missed, skipped, refused, paused (T24, T26, T28)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection

from accounts.models import Alert, AuditLog, OutboxMessage
from accounts.services import account_halt
from orders.models import Order, OrderStatus, ScheduledOrder, ScheduledOrderRun
from orders.services import (
    occurrence_client_order_id,
    scheduled_order_dry_run,
    scheduled_order_fire_due,
    scheduled_order_pause,
    scheduled_order_resume,
)

Run = ScheduledOrderRun.Status


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_schedule(account, instrument, **fields) -> ScheduledOrder:
    values = {
        "name": "open buy",
        "account": account,
        "instrument": instrument,
        "side": "BUY",
        "quantity": Decimal("10"),
        "order_type": "MKT",
        "time_of_day": time(9, 35),
        "grace_seconds": 60,
    }
    values.update(fields)
    return ScheduledOrder.objects.create(**values)


@pytest.fixture
def created_before_the_open():
    """Create schedules at 09:00 New York on Wednesday 3 July 2024."""
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        yield


def fire_at(moment: datetime, **kwargs):
    with time_machine.travel(moment, tick=False):
        return scheduled_order_fire_due(now=moment, **kwargs)


@pytest.mark.django_db
def test_an_occurrence_due_within_the_horizon_becomes_one_order_with_its_due_time_as_not_before(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        schedule = make_schedule(account, instrument)

    report = fire_at(utc(2024, 7, 3, 13, 34, 55), horizon=timedelta(seconds=10))

    run = ScheduledOrderRun.objects.get(schedule=schedule)
    assert report.fired == [run.pk]
    assert run.status == Run.FIRED and run.trading_date.isoformat() == "2024-07-03"
    order = run.order
    assert order.not_before == utc(2024, 7, 3, 13, 35)
    assert order.source == "scheduler" and order.status == OrderStatus.NEW
    assert order.client_order_id == occurrence_client_order_id(schedule.pk, run.trading_date)
    place = OutboxMessage.objects.get(type="order.place")
    assert place.data["client_order_id"] == str(order.client_order_id)
    assert place.data["not_before"] == int(utc(2024, 7, 3, 13, 35).timestamp()) * 1_000_000_000
    assert AuditLog.objects.filter(action="scheduled_order.fired", object_id=str(run.pk)).exists()


@pytest.mark.django_db
def test_firing_again_and_again_never_creates_a_second_order_for_the_same_trading_date(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        make_schedule(account, instrument)

    for second in range(55, 60):
        fire_at(utc(2024, 7, 3, 13, 34, second), horizon=timedelta(seconds=10))
    fire_at(utc(2024, 7, 3, 13, 35, 20), horizon=timedelta(seconds=10))

    assert ScheduledOrderRun.objects.count() == 1
    assert Order.objects.count() == 1
    assert OutboxMessage.objects.filter(type="order.place").count() == 1


@pytest.mark.django_db
def test_nothing_fires_before_the_horizon_reaches_the_due_time(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        make_schedule(account, instrument)

    report = fire_at(utc(2024, 7, 3, 13, 34, 40), horizon=timedelta(seconds=10))

    assert report.fired == [] and not ScheduledOrderRun.objects.exists()


@pytest.mark.django_db
def test_an_occurrence_found_within_its_grace_window_fires_late_and_says_so(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        make_schedule(account, instrument, grace_seconds=60)

    fire_at(utc(2024, 7, 3, 13, 35, 30))

    run = ScheduledOrderRun.objects.get()
    assert run.status == Run.FIRED
    assert "30.0 s late" in run.detail


@pytest.mark.django_db
def test_an_occurrence_found_past_its_grace_window_is_missed_with_an_alert_and_never_fired(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        schedule = make_schedule(account, instrument, grace_seconds=60)

    fire_at(utc(2024, 7, 3, 13, 40))

    run = ScheduledOrderRun.objects.get()
    assert run.status == Run.MISSED and run.order is None
    assert not Order.objects.exists()
    alert = Alert.objects.get(kind="schedule.missed")
    assert alert.key == f"schedule.missed:{schedule.pk}:2024-07-03"
    assert alert.account == account


@pytest.mark.django_db
def test_occurrences_missed_while_beat_was_down_over_days_are_each_recorded_missed_once(account, instrument):
    with time_machine.travel(utc(2024, 7, 1, 13, 0), tick=False):
        make_schedule(account, instrument)

    fire_at(utc(2024, 7, 5, 20, 0))
    fire_at(utc(2024, 7, 5, 20, 0, 2))

    runs = list(ScheduledOrderRun.objects.order_by("trading_date").values_list("trading_date", "status"))
    assert [(d.isoformat(), s) for d, s in runs] == [
        ("2024-07-01", Run.MISSED),
        ("2024-07-02", Run.MISSED),
        ("2024-07-03", Run.MISSED),
        ("2024-07-04", Run.SKIPPED),
        ("2024-07-05", Run.MISSED),
    ]
    assert Alert.objects.filter(kind="schedule.missed").count() == 4


@pytest.mark.django_db
def test_an_occurrence_of_a_schedule_created_after_its_time_is_not_reported_missed(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 15, 0), tick=False):
        make_schedule(account, instrument)

    fire_at(utc(2024, 7, 3, 15, 0, 5))

    assert not ScheduledOrderRun.objects.exists()


@pytest.mark.django_db
def test_a_holiday_is_recorded_skipped_at_its_due_time_and_never_fires(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 20, 0), tick=False):
        make_schedule(account, instrument)

    fire_at(utc(2024, 7, 4, 13, 34, 58), horizon=timedelta(seconds=10))
    assert not ScheduledOrderRun.objects.exists()
    fire_at(utc(2024, 7, 4, 13, 35, 1))

    run = ScheduledOrderRun.objects.get()
    assert run.status == Run.SKIPPED and "not a trading session" in run.detail
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_a_time_after_an_early_close_is_skipped(account, instrument):
    with time_machine.travel(utc(2024, 11, 29, 12, 0), tick=False):
        make_schedule(account, instrument, time_of_day=time(15, 30))

    fire_at(utc(2024, 11, 29, 20, 30, 1))

    run = ScheduledOrderRun.objects.get()
    assert run.status == Run.SKIPPED and "early close" in run.detail


@pytest.mark.django_db
def test_a_halted_accounts_occurrence_is_recorded_skipped(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        make_schedule(account, instrument)
        account_halt(account=account, actor=None, reason="desk review", via="test")

    fire_at(utc(2024, 7, 3, 13, 34, 55), horizon=timedelta(seconds=10))
    assert not ScheduledOrderRun.objects.exists()
    fire_at(utc(2024, 7, 3, 13, 35, 1))

    run = ScheduledOrderRun.objects.get()
    assert run.status == Run.SKIPPED and "account halted: desk review" in run.detail
    assert not Order.objects.exists()


@pytest.mark.django_db
def test_an_order_the_risk_limits_refuse_is_recorded_refused_with_an_alert(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        make_schedule(account, instrument, quantity=Decimal("5000"))

    fire_at(utc(2024, 7, 3, 13, 34, 55), horizon=timedelta(seconds=10))

    run = ScheduledOrderRun.objects.get()
    assert run.status == Run.FAILED and run.detail.startswith("risk.max_quantity")
    assert not Order.objects.exists()
    assert Alert.objects.filter(kind="schedule.refused", account=account).count() == 1


@pytest.mark.django_db
def test_a_paused_schedule_is_skipped_at_its_due_time_and_fires_again_once_resumed(account, instrument, trader):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        schedule = make_schedule(account, instrument)
        scheduled_order_pause(schedule=schedule, actor=None, via="test")

    fire_at(utc(2024, 7, 3, 13, 35, 1))
    with time_machine.travel(utc(2024, 7, 3, 14, 0), tick=False):
        scheduled_order_resume(schedule=schedule, actor=None, via="test")
    fire_at(utc(2024, 7, 5, 13, 34, 55), horizon=timedelta(seconds=10))

    runs = dict(ScheduledOrderRun.objects.values_list("trading_date", "status"))
    assert [(d.isoformat(), s) for d, s in sorted(runs.items())] == [
        ("2024-07-03", Run.SKIPPED),
        ("2024-07-04", Run.SKIPPED),
        ("2024-07-05", Run.FIRED),
    ]
    assert AuditLog.objects.filter(action="scheduled_order.pause").count() == 1
    assert AuditLog.objects.filter(action="scheduled_order.resume").count() == 1


@pytest.mark.django_db
def test_pausing_cancels_an_order_already_materialised_but_not_yet_due(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        schedule = make_schedule(account, instrument)
    fire_at(utc(2024, 7, 3, 13, 34, 55), horizon=timedelta(seconds=10))

    with time_machine.travel(utc(2024, 7, 3, 13, 34, 57), tick=False):
        scheduled_order_pause(schedule=schedule, actor=None, via="test")

    assert Order.objects.get().status == OrderStatus.CANCELLED
    assert not OutboxMessage.objects.filter(type="order.place").exists()


@pytest.mark.django_db
def test_a_viewer_cannot_pause_a_schedule(account, instrument, viewer):
    from accounts.exceptions import PermissionRequired

    schedule = make_schedule(account, instrument)

    with pytest.raises(PermissionRequired):
        scheduled_order_pause(schedule=schedule, actor=viewer, via="test")
    schedule.refresh_from_db()
    assert schedule.enabled


@pytest.mark.django_db
def test_the_dry_run_lists_the_next_five_firings_and_keeps_no_rows(account, instrument, trader):
    with time_machine.travel(utc(2024, 7, 2, 20, 0), tick=False):
        schedule = make_schedule(account, instrument)
        before = (Order.objects.count(), OutboxMessage.objects.count(), AuditLog.objects.count())

        result = scheduled_order_dry_run(schedule=schedule, actor=trader, now=utc(2024, 7, 2, 20, 0))

    assert result.accepted, result.message
    assert [f.date().isoformat() for f in result.next_firings] == [
        "2024-07-03",
        "2024-07-05",
        "2024-07-08",
        "2024-07-09",
        "2024-07-10",
    ]
    assert (Order.objects.count(), OutboxMessage.objects.count(), AuditLog.objects.count()) == before


@pytest.mark.django_db
def test_the_dry_run_reports_the_refusal_of_an_order_the_limits_would_refuse(account, instrument, trader):
    schedule = make_schedule(account, instrument, quantity=Decimal("5000"))

    result = scheduled_order_dry_run(schedule=schedule, actor=trader)

    assert not result.accepted and result.code == "risk.max_quantity"


@pytest.mark.django_db
def test_on_the_monday_after_spring_forward_a_0935_order_is_due_at_1335_utc(account, instrument):
    with time_machine.travel(utc(2024, 3, 8, 20, 0), tick=False):
        make_schedule(account, instrument)

    fire_at(utc(2024, 3, 11, 13, 34, 55), horizon=timedelta(seconds=10))

    assert ScheduledOrderRun.objects.get().order.not_before == utc(2024, 3, 11, 13, 35)


@pytest.mark.django_db(transaction=True)
def test_two_workers_firing_at_the_same_instant_create_one_order_per_occurrence(account, instrument):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        schedules = [make_schedule(account, instrument, name=f"s{i}") for i in range(10)]
    moment = utc(2024, 7, 3, 13, 34, 55)
    barrier = threading.Barrier(4)
    errors = []

    def worker():
        try:
            barrier.wait(timeout=10)
            scheduled_order_fire_due(now=moment, horizon=timedelta(seconds=10))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert ScheduledOrderRun.objects.filter(status=Run.FIRED).count() == len(schedules)
    assert Order.objects.count() == len(schedules)
    assert OutboxMessage.objects.filter(type="order.place").count() == len(schedules)


@pytest.mark.django_db
def test_a_schedule_that_fails_unexpectedly_does_not_stop_the_others_and_raises_an_alert(
    account, instrument, monkeypatch
):
    from orders.services import schedule_firing

    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        broken = make_schedule(account, instrument, name="broken")
        healthy = make_schedule(account, instrument, name="healthy")
    real_submit = schedule_firing._submit

    def submit(schedule, occurrence, **kwargs):
        if schedule.pk == broken.pk:
            raise RuntimeError("bad template")
        return real_submit(schedule, occurrence, **kwargs)

    monkeypatch.setattr(schedule_firing, "_submit", submit)

    report = fire_at(utc(2024, 7, 3, 13, 34, 55), horizon=timedelta(seconds=10))

    assert report.errors == 1
    assert ScheduledOrderRun.objects.get().schedule == healthy
    assert Alert.objects.get(kind="schedule.error").key == f"schedule.error:{broken.pk}"
