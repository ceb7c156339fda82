"""Scheduled orders fire exactly once under real Celery processes: two beats (T24), a worker killed
mid-task (T25) and a PostgreSQL connection killed under a running task (T29)."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from django.db.models import Count

from accounts.models import OutboxMessage
from orders.models import Order, ScheduledOrderRun
from orders.tests.celery_processes import (
    purge_broker,
    start_beat,
    start_worker,
    subprocess_env,
    wait_for,
    worker_ready,
)
from orders.tests.helpers import schedules_due_in
from tradeconsole.celery import app

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
FIRE = "orders.tasks.scheduled_orders_fire"


def assert_each_fired_exactly_once(schedules) -> None:
    runs = ScheduledOrderRun.objects.filter(schedule__in=schedules)
    assert runs.count() == len(schedules)
    assert set(runs.values_list("status", flat=True)) == {ScheduledOrderRun.Status.FIRED}
    assert Order.objects.filter(source="scheduler").count() == len(schedules)
    assert OutboxMessage.objects.filter(type="order.place").count() == len(schedules)
    per_schedule = Order.objects.filter(scheduled_run__schedule__in=schedules).values("scheduled_run__schedule")
    assert {row["n"] for row in per_schedule.annotate(n=Count("id"))} == {1}


@pytest.fixture
def fast_env():
    purge_broker()
    yield subprocess_env(
        TRADECONSOLE_SCHEDULER_TICK="0.5",
        TRADECONSOLE_SCHEDULER_HORIZON="3",
        TRADECONSOLE_BEAT_MAX_LOOP_INTERVAL="0.2",
        TRADECONSOLE_MONITOR_INTERVAL="3600",
        TRADECONSOLE_CELERY_VISIBILITY_TIMEOUT="4",
    )
    purge_broker()


def test_two_beat_processes_fire_each_of_ten_occurrences_once(account, instrument, tmp_path, fast_env):
    schedules = schedules_due_in(account, instrument, 6, 10)
    processes = [start_worker(tmp_path, "w1", fast_env, concurrency=2)]
    try:
        wait_for(lambda: worker_ready(processes[0]), timeout=30, what="the worker")
        processes += [start_beat(tmp_path, "beat1", fast_env), start_beat(tmp_path, "beat2", fast_env)]
        wait_for(
            lambda: ScheduledOrderRun.objects.filter(schedule__in=schedules).count() == 10,
            timeout=40,
            what="ten runs",
        )
        time.sleep(3)  # six more ticks of each beat: any duplicate would show now
    finally:
        for process in processes:
            process.stop()

    assert_each_fired_exactly_once(schedules)
    for beat in processes[1:]:
        assert beat.output().count("Sending due task scheduled-orders-fire") >= 5, beat.output()[-2000:]
    due = {run.due_at for run in ScheduledOrderRun.objects.filter(schedule__in=schedules)}
    assert {order.not_before for order in Order.objects.all()} == due


def test_a_worker_killed_mid_task_leaves_no_duplicate_and_the_redelivered_task_finishes(
    account, instrument, tmp_path, fast_env
):
    schedules = schedules_due_in(account, instrument, 2, 100)
    worker = start_worker(tmp_path, "victim", fast_env)
    try:
        wait_for(lambda: worker_ready(worker), timeout=30, what="the worker")
        app.send_task(FIRE)
        runs = ScheduledOrderRun.objects.filter(schedule__in=schedules)
        wait_for(lambda: runs.count() >= 5, timeout=30, what="the task to be mid-way")
        worker.kill()
        settled_at_kill = runs.count()
    finally:
        worker.stop()
    assert 0 < settled_at_kill < len(schedules), "the kill must land mid-task"

    # The message was unacked (acks_late); after the visibility timeout a new worker gets it again.
    survivor = start_worker(tmp_path, "survivor", fast_env)
    try:
        wait_for(lambda: runs.count() == len(schedules), timeout=60, what="the redelivered task")
    finally:
        survivor.stop()

    assert_each_fired_exactly_once(schedules)
    assert "scheduled_orders_fire" in survivor.output()


def test_a_postgresql_connection_killed_under_a_running_task_is_survived_without_a_restart(
    account, instrument, tmp_path, fast_env
):
    schedules = schedules_due_in(account, instrument, 2, 100)
    worker = start_worker(tmp_path, "pgkill", fast_env)
    try:
        wait_for(lambda: worker_ready(worker), timeout=30, what="the worker")
        pool_pids_before = worker.popen.pid
        app.send_task(FIRE)
        runs = ScheduledOrderRun.objects.filter(schedule__in=schedules)
        wait_for(lambda: runs.count() >= 5, timeout=30, what="the task to be mid-way")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            killed = cursor.fetchone()[0]
        settled_at_kill = runs.count()
        assert killed >= 1
        assert settled_at_kill < len(schedules), "the kill must land mid-task"
        wait_for(lambda: "OperationalError" in worker.output() or "terminat" in worker.output(), timeout=20,
                 what="the task to fail on its dead connection")  # fmt: skip

        app.send_task(FIRE)
        wait_for(lambda: runs.count() == len(schedules), timeout=60, what="the next task to finish the work")
        assert worker.alive() and worker.popen.pid == pool_pids_before
    finally:
        worker.stop()

    assert_each_fired_exactly_once(schedules)
