"""The Celery application, its beat schedule and the start-up checks of its broker settings.

Tasks live in each app's ``tasks.py``. Beat runs in UTC and only ever triggers four periodic
tasks: the scheduled-order firing (idempotent in PostgreSQL, so a second beat is harmless), the
monitoring run (an advisory lock keeps runs from overlapping; ``expires`` drops a run that would
start late instead of letting a backlog run together), the hourly housekeeping (retention
deletes, harmless to repeat) and the notifications' follow-up (escalations, each once).
"""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradeconsole.settings")

app = Celery("tradeconsole")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task's log lines carry the correlation id of what sent it (signals connected on import).
from tradeconsole import task_correlation  # noqa: E402, F401
from tradeconsole.startup_memory import freeze_startup_objects  # noqa: E402


def beat_schedule(
    *,
    scheduler_tick: float,
    monitor_interval: float,
    housekeeping_interval: float = 3600,
    escalation_interval: float = 60,
) -> dict:
    """Return the beat schedule: scheduled-order firing every tick, monitoring every interval,
    housekeeping (retention deletes, old notification deliveries among them) every
    ``housekeeping_interval``, the notifications' follow-up
    (escalation of critical alerts nobody acknowledged, alerts an announcement missed) every
    ``escalation_interval``; each escalation and message is sent once, so it is harmless to repeat.

    Each entry expires after one period, so a message that waited (a paused or busy worker)
    is discarded rather than run late alongside its successors.
    """
    return {
        "scheduled-orders-fire": {
            "task": "orders.tasks.scheduled_orders_fire",
            "schedule": scheduler_tick,
            "options": {"expires": scheduler_tick},
        },
        "monitoring-run": {
            "task": "orders.tasks.monitoring_run",
            "schedule": monitor_interval,
            "options": {"expires": monitor_interval},
        },
        "housekeeping-run": {
            "task": "orders.tasks.housekeeping_run",
            "schedule": housekeeping_interval,
            "options": {"expires": housekeeping_interval},
        },
        "notifications-purge": {
            "task": "notifications.tasks.deliveries_purge",
            "schedule": housekeeping_interval,
            "options": {"expires": housekeeping_interval},
        },
        "notifications-follow-up": {
            "task": "notifications.tasks.follow_up_run",
            "schedule": escalation_interval,
            "options": {"expires": escalation_interval},
        },
    }


def _configure_beat() -> None:
    from django.conf import settings

    app.conf.beat_schedule = beat_schedule(
        scheduler_tick=settings.SCHEDULER_TICK_SECONDS,
        monitor_interval=settings.MONITOR_INTERVAL_SECONDS,
        housekeeping_interval=settings.HOUSEKEEPING_INTERVAL_SECONDS,
        escalation_interval=settings.NOTIFICATIONS_ESCALATION_INTERVAL_SECONDS,
    )


_configure_beat()


@setup_logging.connect
def _log_as_django(loglevel=None, **kwargs) -> None:
    """Configure the worker's and beat's logging from Django's ``LOGGING`` instead of Celery's own.

    Celery's formatter writes the process's local time, which Django sets to the desk's zone;
    ``LOGGING`` writes UTC with the zone written, as every other process (``logclock``).
    """
    import logging
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
    if loglevel:
        logging.getLogger().setLevel(loglevel)


class BrokerSettingNotApplied(RuntimeError):
    """The broker transport does not use the visibility timeout the settings ask for."""


def effective_visibility_timeout(celery_app: Celery) -> float:
    """Return the visibility timeout the Redis transport actually uses (opens a broker connection)."""
    with celery_app.connection_for_write() as connection:
        return float(connection.default_channel.visibility_timeout)


def assert_broker_settings(celery_app: Celery) -> None:
    """Check that the transport applies the configured visibility timeout.

    :raises BrokerSettingNotApplied: the effective value differs from the configured one.
    """
    configured = float(celery_app.conf.broker_transport_options["visibility_timeout"])
    effective = effective_visibility_timeout(celery_app)
    if effective != configured:
        raise BrokerSettingNotApplied(
            f"visibility_timeout is {effective} s on the broker, but {configured} s is configured"
        )


@worker_init.connect
def _check_broker_settings_at_start(sender=None, **kwargs) -> None:
    # Raising here stops the worker before it consumes anything.
    assert_broker_settings(sender.app if sender is not None else app)


@worker_process_init.connect
def _freeze_at_process_start(**kwargs) -> None:
    freeze_startup_objects()
