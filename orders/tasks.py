"""Celery tasks of the orders app: thin wrappers that call one service each.

Every task is periodic (see ``tradeconsole.celery.beat_schedule``) and take no ids. A database
error (a connection killed under the task, a PostgreSQL restart) fails the run; Celery's Django
fix-up closes the unusable connection after the task, so the next run works in the same process.
"""

from __future__ import annotations

import logging

from celery import shared_task

from orders import housekeeping, monitoring
from orders.services import schedule_firing

logger = logging.getLogger(__name__)


@shared_task(name="orders.tasks.scheduled_orders_fire", acks_late=True, ignore_result=True)
def scheduled_orders_fire() -> dict:
    """Materialise the scheduled-order occurrences due within the horizon (idempotent in PostgreSQL).

    Acks late: a worker killed mid-task has its message re-delivered, and the unique run per
    (schedule, trading date) makes the second pass a no-op for what the first one committed.
    """
    report = schedule_firing.scheduled_order_fire_due()
    counts = {
        "fired": len(report.fired),
        "missed": len(report.missed),
        "skipped": len(report.skipped),
        "failed": len(report.failed),
        "busy": report.busy,
        "errors": report.errors,
    }
    # The routine check runs every few seconds: DEBUG; each occurrence it settles logs at INFO.
    logger.debug("scheduled orders checked: %s", counts)
    return counts


@shared_task(name="orders.tasks.monitoring_run", acks_late=False, ignore_result=True)
def monitoring_run() -> dict:
    """Run the monitoring loop once, unless another run holds the lock (then do nothing).

    Acked early and sent with ``expires``: a run that could not start on time is dropped,
    never queued behind its successors.
    """
    report = monitoring.monitoring_run()
    return report.as_dict()


@shared_task(name="orders.tasks.housekeeping_run", acks_late=False, ignore_result=True)
def housekeeping_run() -> dict:
    """Delete what has outlived its retention (``orders.housekeeping``); repeating it is harmless."""
    return housekeeping.housekeeping_run().as_dict()
