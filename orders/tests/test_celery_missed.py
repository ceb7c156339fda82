"""Beat down across a scheduled time (T28): within the grace window the order fires late, beyond it the
occurrence is recorded MISSED with an alert and never fired."""

from __future__ import annotations

import time

import pytest

from accounts.models import Alert
from orders.models import Order, ScheduledOrderRun
from orders.tests.celery_processes import purge_broker, start_beat, start_worker, subprocess_env, wait_for, worker_ready
from orders.tests.helpers import schedules_due_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_occurrences_due_while_beat_was_down_fire_late_within_grace_and_are_missed_beyond_it(
    account, instrument, tmp_path
):
    purge_broker()
    env = subprocess_env(
        TRADECONSOLE_SCHEDULER_TICK="0.5",
        TRADECONSOLE_SCHEDULER_HORIZON="1",
        TRADECONSOLE_BEAT_MAX_LOOP_INTERVAL="0.2",
        TRADECONSOLE_MONITOR_INTERVAL="3600",
    )
    created = time.time()
    [within] = schedules_due_in(account, instrument, 2, 1, grace=60)
    [beyond] = schedules_due_in(account, instrument, 2, 1, grace=3)
    worker = start_worker(tmp_path, "w", env)
    beat = None
    try:
        wait_for(lambda: worker_ready(worker), timeout=30, what="the worker")
        # Beat is down at the due time (created + 2 s) and for six seconds after it.
        time.sleep(max(0.0, created + 8 - time.time()))
        assert not ScheduledOrderRun.objects.exists()
        beat = start_beat(tmp_path, "late-beat", env)
        wait_for(lambda: ScheduledOrderRun.objects.count() == 2, timeout=30, what="both occurrences settled")
    finally:
        if beat is not None:
            beat.stop()
        worker.stop()

    fired = ScheduledOrderRun.objects.get(schedule=within)
    missed = ScheduledOrderRun.objects.get(schedule=beyond)
    assert fired.status == ScheduledOrderRun.Status.FIRED and "late, within the grace window" in fired.detail
    assert missed.status == ScheduledOrderRun.Status.MISSED and missed.order is None
    assert Order.objects.count() == 1
    assert Alert.objects.filter(key=f"schedule.missed:{beyond.pk}:{missed.trading_date}").count() == 1
