"""A quiet log (issue 22): the routine scheduler check logs at DEBUG, each firing at INFO."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
import time_machine
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

from orders.models import ScheduledOrder
from orders.tasks import scheduled_orders_fire


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def records_of(caplog, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == name]


@pytest.mark.django_db
def test_the_scheduler_check_logs_at_debug_and_the_firing_it_finds_at_info(
    account, instrument, caplog, django_capture_on_commit_callbacks
):
    with time_machine.travel(utc(2024, 7, 3, 13, 0), tick=False):
        ScheduledOrder.objects.create(
            name="open buy",
            account=account,
            instrument=instrument,
            side="BUY",
            quantity=Decimal("10"),
            order_type="MKT",
            time_of_day=time(9, 35),
            grace_seconds=60,
        )
    caplog.set_level(logging.DEBUG)

    with time_machine.travel(utc(2024, 7, 3, 13, 34, 59), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            scheduled_orders_fire()
        with django_capture_on_commit_callbacks(execute=True):
            scheduled_orders_fire()  # nothing left to fire: the check alone

    checks = records_of(caplog, "orders.tasks")
    assert [record.levelno for record in checks] == [logging.DEBUG, logging.DEBUG]
    firings = records_of(caplog, "orders.services.schedule_firing")
    assert [record.levelno for record in firings] == [logging.INFO]
    assert "'open buy'" in firings[0].getMessage() and "2024-07-03 fired as order" in firings[0].getMessage()


def celery_lines(task: str) -> None:
    """Log what beat and the worker log about one run of ``task``, as Celery words them."""
    context = {"id": "1", "name": task, "args": "()", "kwargs": "{}", "eta": None}
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "entry", task)
    logging.getLogger("celery.worker.strategy").info(LOG_RECEIVED, context)
    logging.getLogger("celery.app.trace").info(LOG_SUCCESS, {**context, "return_value": "{}", "runtime": 0.01})


def test_celerys_lines_about_the_routine_check_stay_out_of_an_info_log(caplog):
    caplog.set_level(logging.INFO)

    celery_lines("orders.tasks.scheduled_orders_fire")
    celery_lines("orders.tasks.monitoring_run")
    celery_lines("orders.tasks.housekeeping_run")

    lines = [(record.name, record.levelno, record.getMessage()) for record in caplog.records]
    assert len(lines) == 3
    assert all("orders.tasks.housekeeping_run" in message and level == logging.INFO for _, level, message in lines)


def test_celerys_lines_about_the_routine_check_show_at_debug(caplog):
    caplog.set_level(logging.DEBUG)

    celery_lines("orders.tasks.scheduled_orders_fire")

    assert [(record.name, record.levelname) for record in caplog.records] == [
        ("celery.beat", "DEBUG"),
        ("celery.worker.strategy", "DEBUG"),
        ("celery.app.trace", "DEBUG"),
    ]


def test_a_failed_routine_check_keeps_its_level(caplog):
    caplog.set_level(logging.INFO)

    logging.getLogger("celery.app.trace").error(
        "Task %(name)s[%(id)s] raised unexpected: %(exc)s",
        {"name": "orders.tasks.scheduled_orders_fire", "id": "1", "exc": "boom"},
    )

    assert [record.levelno for record in caplog.records] == [logging.ERROR]
