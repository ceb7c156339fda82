"""Backtests on real Celery workers: several requested at once are spread over the workers and all finish."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import transaction

from orders.tests.celery_processes import purge_broker, start_worker, subprocess_env, wait_for, worker_ready
from strategies.models import Backtest
from strategies.services.backtests import backtest_request
from strategies.tests.conftest import END, START

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
TASK_DONE = re.compile(r"Task strategies\.tasks\.run_backtest\[[^\]]+\] succeeded")


@pytest.fixture
def worker_env():
    purge_broker()
    yield subprocess_env(TRADECONSOLE_MONITOR_INTERVAL="3600")
    purge_broker()


def test_backtests_requested_together_run_on_two_workers_and_all_finish(
    trader, ema_version, stored_bars, tmp_path, worker_env
):
    workers = [start_worker(tmp_path, "bt1", worker_env), start_worker(tmp_path, "bt2", worker_env)]
    try:
        for worker in workers:
            wait_for(lambda worker=worker: worker_ready(worker), timeout=60, what="a worker")
        with transaction.atomic():
            # Enqueued when this commits: one message each, taken by whichever worker is free.
            backtests = [
                backtest_request(
                    actor=trader, version=ema_version, symbols=["AAPL"], resolution="1", start=START, end=END,
                    starting_cash=Decimal("100000"), via="test",
                )
                for _ in range(6)
            ]  # fmt: skip
        ids = [b.pk for b in backtests]
        wait_for(
            lambda: Backtest.objects.filter(pk__in=ids, status="done").count() == len(ids),
            timeout=120,
            what="six backtests done",
        )
    finally:
        for worker in workers:
            worker.stop()
    results = {b.results["metrics"]["final_equity"] for b in Backtest.objects.filter(pk__in=ids)}
    assert len(results) == 1, "the same request gives the same result on either worker"
    ran = [len(TASK_DONE.findall(worker.output())) for worker in workers]
    assert sum(ran) == len(ids) and all(ran), ran
