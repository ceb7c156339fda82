"""The monitoring loop under a real worker and beat: runs never overlap and a late run is dropped (T27)."""

from __future__ import annotations

import signal
import time

import psycopg
import pytest
from django.db import connection

from orders import monitoring
from orders.models import PnLPoint
from orders.tests.celery_processes import purge_broker, start_beat, start_worker, subprocess_env, wait_for, worker_ready

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def runs() -> int:
    """Each monitoring run stores one PnL point per account; the test has one account."""
    return PnLPoint.objects.count()


def test_monitoring_runs_never_overlap_and_runs_that_would_start_late_are_dropped(account, tmp_path):
    purge_broker()
    env = subprocess_env(
        TRADECONSOLE_MONITOR_INTERVAL="1",
        TRADECONSOLE_SCHEDULER_TICK="3600",
        TRADECONSOLE_BEAT_MAX_LOOP_INTERVAL="0.2",
    )
    worker = start_worker(tmp_path, "monitor", env, concurrency=2)
    beat = None
    settings_dict = connection.settings_dict
    holder = psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1",
        port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"] or "root",
        dbname=settings_dict["NAME"],
        autocommit=True,
    )
    try:
        wait_for(lambda: worker_ready(worker), timeout=30, what="the worker")
        beat = start_beat(tmp_path, "beat", env)
        wait_for(lambda: runs() >= 2, timeout=30, what="the loop to run")

        # A run in progress (here: the lock held for 4 s, as a long run would) blocks every
        # other run, even on a worker with two free processes.
        holder.execute("SELECT pg_advisory_lock(%s)", [monitoring.MONITOR_LOCK_KEY])
        time.sleep(0.5)  # a run that had already started finishes
        held_from = runs()
        time.sleep(4)
        assert runs() == held_from, "a run overlapped the one holding the lock"
        holder.execute("SELECT pg_advisory_unlock(%s)", [monitoring.MONITOR_LOCK_KEY])
        wait_for(lambda: runs() > held_from, timeout=5, what="runs to resume after the lock is released")

        # A stopped worker misses six beats; on resume the expired messages are dropped, not run.
        worker.signal_group(signal.SIGSTOP)
        time.sleep(6)
        resumed_from = runs()
        worker.signal_group(signal.SIGCONT)
        time.sleep(1.0)
        burst = runs() - resumed_from
        wait_for(lambda: runs() > resumed_from, timeout=5, what="a run after the resume")
    finally:
        holder.close()
        if beat is not None:
            beat.stop()
        worker.stop()

    assert burst <= 2, f"{burst} runs in the second after resuming: the backlog was run, not dropped"
    # The beats sent while the worker was stopped were discarded as expired when it resumed.
    assert worker.output().count("Discarding revoked task: orders.tasks.monitoring_run") >= 3
