"""A Celery task runs with the correlation id of what sent it (``tradeconsole.task_correlation``)."""

from __future__ import annotations

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
