"""A Celery task runs with the correlation id of what sent it (``tradeconsole.task_correlation``)."""

from __future__ import annotations

import json

import pytest
from celery.signals import before_task_publish

from logclock import correlation
from tradeconsole.celery import app

seen: list[str] = []


@app.task(name="tradeconsole.tests.correlation_probe")
def correlation_probe() -> str:
    seen.append(correlation.current())
    return correlation.current()


@pytest.fixture
def published_headers():
    """The headers of every task message published during the test (after the desk's receiver)."""
    captured: list[dict] = []

    def capture(headers=None, **kwargs) -> None:
        captured.append(dict(headers or {}))

    before_task_publish.connect(capture, weak=False)
    yield captured
    before_task_publish.disconnect(capture)


def test_a_task_runs_with_the_id_in_its_message_and_unbinds_it_after():
    seen.clear()
    correlation_probe.apply(headers={"cid": "req-42"})
    assert seen == ["req-42"]
    assert correlation.current() == ""


def test_a_task_without_one_keeps_its_callers_or_takes_its_own_task_id():
    seen.clear()
    with correlation.bound("caller-7"):
        correlation_probe.apply()
    result = correlation_probe.apply(task_id="0f4c9b1e-task")
    assert seen == ["caller-7", "0f4c9b1e-task"]
    assert result.get() == "0f4c9b1e-task"


def test_a_published_task_carries_the_senders_id_or_a_fresh_one(published_headers, redis_client):
    with correlation.bound("req-99"):
        correlation_probe.apply_async(queue="correlation-probe")
    correlation_probe.apply_async(queue="correlation-probe")  # beat firing a schedule: nothing bound
    first, second = (headers["cid"] for headers in published_headers)
    assert first == "req-99"
    assert correlation.well_formed(second) and second != first


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_process_logs_a_task_with_the_id_of_what_sent_it(tmp_path, redis_client):
    from orders.tasks import housekeeping_run
    from orders.tests.celery_processes import start_worker, subprocess_env, wait_for, worker_ready

    worker = start_worker(tmp_path, "correlated", subprocess_env(TRADECONSOLE_LOG_FORMAT="json"))
    try:
        wait_for(lambda: worker_ready(worker), timeout=60, what="the worker")
        with correlation.bound("req-celery-1"):
            sent = housekeeping_run.apply_async()

        def lines() -> list[dict]:
            return [json.loads(line) for line in worker.output().splitlines() if line.startswith("{")]

        def succeeded() -> list[dict]:
            return [line for line in lines() if sent.id in line["event"] and "succeeded" in line["event"]]

        wait_for(lambda: succeeded(), timeout=60, what="the task's success line")
    finally:
        worker.stop()
    (line,) = succeeded()
    assert line["correlation_id"] == "req-celery-1" and line["logger"] == "celery.app.trace"
    # The worker's main process received it before any id was bound there.
    received = [line for line in lines() if sent.id in line["event"] and "received" in line["event"].lower()]
    assert received and all("correlation_id" not in line for line in received)
