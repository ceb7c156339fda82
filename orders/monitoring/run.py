"""The monitoring run: one lock across every Celery worker, then each step over every account."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import datetime

from django.db import DatabaseError
from django.utils import timezone

from accounts.models import BrokerAccount, ProcessHeartbeat
from orders import sql
from orders.monitoring.alerts import daily_loss_check, system_alerts
from orders.monitoring.common import MonitoringReport
from orders.monitoring.pnl import pnl_update, sessions_update
from orders.monitoring.protection import protection_ensure
from orders.monitoring.reconcile import broker_refresh_request, positions_compare, risk_limits_ensure
from orders.monitoring.stale import rejected_orders_replace, stale_orders_handle

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key of the monitoring run ("tcmon" in ASCII); advisory locks are per database.
MONITOR_LOCK_KEY = 0x7463_6D6F_6E


@contextlib.contextmanager
def advisory_lock(key: int) -> Iterator[bool]:
    """Hold the session-level advisory lock ``key`` if it is free; yield whether it was taken.

    The lock dies with its connection, so a run killed with its process or its connection
    never leaves the loop locked.
    """
    taken = sql.advisory_lock_try(key)
    try:
        yield taken
    finally:
        if taken:
            try:
                sql.advisory_unlock(key)
            except DatabaseError:
                # The connection is gone, and the lock with it.
                logger.warning("could not release the monitoring lock; its connection is gone")


def monitoring_run(*, now: datetime | None = None) -> MonitoringReport:
    """Run the monitoring loop once over every account, unless another run is in progress.

    Each step of each account commits on its own; a refusal or a bug in one is logged and
    reported, and the run goes on. A database failure ends the run (the next one reconnects).

    :raises DatabaseError: the database failed under the run.
    """
    started = time.perf_counter()
    with advisory_lock(MONITOR_LOCK_KEY) as taken:
        if not taken:
            return MonitoringReport(ran=False)
        now = now or timezone.now()
        report = MonitoringReport()
        accounts = list(BrokerAccount.objects.select_related("risk_limit").order_by("pk"))
        report.accounts = len(accounts)
        report.refresh_sent = broker_refresh_request(now=now, accounts=len(accounts)) is not None
        _guarded(risk_limits_ensure, accounts=accounts, report=report)
        totals = pnl_update(now=now, report=report, account_ids=[account.pk for account in accounts])
        sessions_update(now=now)
        for account in accounts:
            for step in (positions_compare, protection_ensure, stale_orders_handle, rejected_orders_replace):
                _guarded(step, account=account, now=now, report=report)
            _guarded(daily_loss_check, account=account, now=now, report=report, totals=totals)
        _guarded(system_alerts, now=now, report=report)
        # Beat only when a run got through: a run that raises leaves the heartbeat to age, which the
        # System page shows, instead of saying "running" while every run fails.
        _heartbeat(now, errors=len(report.errors))
        report.duration_ms = (time.perf_counter() - started) * 1000
        return report


def _guarded(step, *, report: MonitoringReport, **kwargs) -> None:
    try:
        step(report=report, **kwargs)
    except DatabaseError:
        raise
    except Exception as exc:
        # One account's bad data must not leave every other account unmonitored.
        logger.exception("monitoring step %s failed", step.__name__)
        report.errors.append(f"{step.__name__}: {exc}")


def _heartbeat(now: datetime, *, errors: int) -> None:
    state = "running" if not errors else f"running, {errors} step(s) failed"
    ProcessHeartbeat.objects.update_or_create(name="monitor", defaults={"last_seen_at": now, "state": state})
