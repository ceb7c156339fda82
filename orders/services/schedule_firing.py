"""Every write of scheduled orders: firing due occurrences exactly once, dry runs, pause and resume.

Exactly once rests on PostgreSQL, not on the number of beat processes: each occurrence is a
``ScheduledOrderRun`` unique on (schedule, trading date), inserted in the same transaction as the
order, its event, its audit row and its outbox row. A second beat, a retried task or a restarted
worker finds the run and does nothing. Orders carry ``not_before`` = the due time and are created
up to ``SCHEDULER_HORIZON_SECONDS`` ahead, so the execution worker sends them on time; Celery ETA is
never used (on the Redis broker it re-runs tasks past the visibility timeout).

Catch-up policy: an occurrence found after its due time but within its grace window fires at once
(the run's detail says how late); beyond the grace window it is recorded ``MISSED`` with an alert
and never fired. Occurrences on holidays, after an early close, of a paused schedule or of a halted
account (or with the kill switch engaged) are recorded ``SKIPPED`` at their due time.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from accounts.exceptions import AccountHalted, DeskHalted
from accounts.models import Alert, User
from accounts.selectors import kill_switch_engaged
from accounts.services import alert_raise, audit_record, require_actor
from orders import scheduling
from orders.models import Order, OrderSource, OrderStatus, ScheduledOrder, ScheduledOrderRun
from orders.services.amend import order_cancel
from orders.services.entry import order_submit
from tradeconsole.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# The namespace of the client order ids of scheduled orders: one id per (schedule, trading date),
# so even a path that bypassed the run row could not create a second order for an occurrence.
SCHEDULED_ORDER_NAMESPACE = uuid.UUID("5c1e0a57-8f0b-4c52-9a7e-6b1d2f0c9e11")
RunStatus = ScheduledOrderRun.Status


def occurrence_client_order_id(schedule_id: int, trading_date) -> uuid.UUID:
    """Return the client order id of a schedule's order on ``trading_date`` (stable across retries)."""
    return uuid.uuid5(SCHEDULED_ORDER_NAMESPACE, f"{schedule_id}:{trading_date.isoformat()}")


@dataclass
class FireReport:
    """What one firing pass did: run ids by status, and occurrences another worker was settling."""

    fired: list[int] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    busy: int = 0
    errors: int = 0

    def add(self, run: ScheduledOrderRun | None) -> None:
        if run is None:
            self.busy += 1
            return
        {
            RunStatus.FIRED: self.fired,
            RunStatus.MISSED: self.missed,
            RunStatus.SKIPPED: self.skipped,
            RunStatus.FAILED: self.failed,
        }[run.status].append(run.pk)


def _submit(schedule: ScheduledOrder, occurrence: scheduling.Occurrence, *, dry_run: bool = False) -> Order:
    # Imported here so this module loads before the order services exist in a fresh checkout.
    return order_submit(
        actor=None,
        account=schedule.account,
        instrument=schedule.instrument,
        side=schedule.side,
        quantity=schedule.quantity,
        order_type=schedule.order_type,
        limit_price=schedule.limit_price,
        stop_price=schedule.stop_price,
        tif=schedule.tif,
        not_before=occurrence.due_at,
        source=OrderSource.SCHEDULER,
        client_order_id=uuid.uuid4() if dry_run else occurrence_client_order_id(schedule.pk, occurrence.trading_date),
        via="task",
    )


def _decide(
    schedule: ScheduledOrder, occurrence: scheduling.Occurrence, now: datetime
) -> tuple[str, str, Order | None]:
    """Return (status, detail, order) for a due or nearly due occurrence; may submit the order."""
    if occurrence.skip_reason == scheduling.SKIP_HOLIDAY:
        return RunStatus.SKIPPED, "not a trading session of " + schedule.exchange_calendar, None
    if occurrence.skip_reason == scheduling.SKIP_EARLY_CLOSE:
        return RunStatus.SKIPPED, "after the early close of the session", None
    if not schedule.enabled:
        return RunStatus.SKIPPED, "schedule paused", None
    late = now - occurrence.due_at
    if late > timedelta(seconds=schedule.grace_seconds):
        return RunStatus.MISSED, f"found {late.total_seconds():.0f} s after its due time, past the grace window", None
    if not schedule.account.trading_enabled:
        return RunStatus.SKIPPED, f"account halted: {schedule.account.halted_reason}"[:500], None
    if kill_switch_engaged():
        return RunStatus.SKIPPED, "kill switch engaged", None
    try:
        with transaction.atomic():
            order = _submit(schedule, occurrence)
    except (AccountHalted, DeskHalted) as exc:
        return RunStatus.SKIPPED, f"{exc.code}: {exc.message}"[:500], None
    except ApplicationError as exc:
        return RunStatus.FAILED, f"{exc.code}: {exc.message}"[:500], None
    detail = f"fired {late.total_seconds():.1f} s late, within the grace window" if late > timedelta(0) else ""
    if occurrence.note:
        detail = f"{detail}; {occurrence.note}" if detail else occurrence.note
    return RunStatus.FIRED, detail[:500], order


def _alert_for(run: ScheduledOrderRun, schedule: ScheduledOrder) -> None:
    if run.status == RunStatus.MISSED:
        alert_raise(
            key=f"schedule.missed:{schedule.pk}:{run.trading_date}",
            kind="schedule.missed",
            message=f"Scheduled order {schedule.name!r} of {run.trading_date} was missed: {run.detail}",
            severity=Alert.Severity.WARNING,
            account=schedule.account,
            data={"schedule": schedule.pk, "trading_date": run.trading_date, "due_at": run.due_at},
        )
    elif run.status == RunStatus.FAILED:
        alert_raise(
            key=f"schedule.refused:{schedule.pk}:{run.trading_date}",
            kind="schedule.refused",
            message=f"Scheduled order {schedule.name!r} of {run.trading_date} was refused: {run.detail}",
            severity=Alert.Severity.WARNING,
            account=schedule.account,
            data={"schedule": schedule.pk, "trading_date": run.trading_date, "due_at": run.due_at},
        )


def _log_settled(run: ScheduledOrderRun, schedule: ScheduledOrder) -> None:
    # One INFO line per occurrence settled: the routine check that found it logs at DEBUG.
    logger.info(
        "scheduled order %r (%s) of %s %s%s%s",
        schedule.name,
        schedule.pk,
        run.trading_date,
        run.status,
        f" as order {run.order.client_order_id}" if run.order else "",
        f": {run.detail}" if run.detail else "",
    )


def scheduled_order_settle(
    *, schedule_id: int, occurrence: scheduling.Occurrence, now: datetime
) -> ScheduledOrderRun | None:
    """Settle one occurrence: fire it, or record it missed, skipped or refused. At most once, ever.

    Returns the run, or None when another worker holds the schedule right now (it settles it)
    or the occurrence is already settled, or it is not yet time to decide (a skip is recorded at
    its due time, so a schedule resumed before then still fires).

    The run row, the order, its event, audit and outbox rows commit together or not at all; the
    unique (schedule, trading date) constraint turns a race into a rolled-back no-op.
    """
    try:
        with transaction.atomic():
            schedule = (
                ScheduledOrder.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("account", "instrument")
                .filter(pk=schedule_id)
                .first()
            )
            if schedule is None:
                return None
            if ScheduledOrderRun.objects.filter(schedule=schedule, trading_date=occurrence.trading_date).exists():
                return None
            firing_early = now < occurrence.due_at
            if firing_early and not (occurrence.fires and schedule.enabled and schedule.account.trading_enabled):
                return None
            status, detail, order = _decide(schedule, occurrence, now)
            run = ScheduledOrderRun.objects.create(
                schedule=schedule,
                trading_date=occurrence.trading_date,
                due_at=occurrence.due_at,
                status=status,
                order=order,
                detail=detail,
            )
            audit_record(
                actor=None,
                action=f"scheduled_order.{status}",
                obj=run,
                account=schedule.account,
                after={
                    "schedule": schedule.pk,
                    "trading_date": run.trading_date,
                    "due_at": run.due_at,
                    "status": status,
                    "order": str(order.client_order_id) if order else None,
                    "detail": detail,
                },
                via="task",
            )
            _alert_for(run, schedule)
            transaction.on_commit(lambda: _log_settled(run, schedule))
            return run
    except IntegrityError:
        # Another transaction inserted this occurrence's run first; ours rolled back whole.
        logger.info("occurrence %s/%s already settled by another worker", schedule_id, occurrence.trading_date)
        return None


def scheduled_order_fire_due(*, now: datetime | None = None, horizon: timedelta | None = None) -> FireReport:
    """Materialise every occurrence due by ``now + horizon`` that has no run yet.

    Looks back ``SCHEDULER_LOOKBACK_DAYS`` (never before the schedule was created) so an outage
    of beat or of the workers shows up as MISSED runs with alerts. Each occurrence is settled in
    its own transaction by ``scheduled_order_settle``; a refusal of one does not stop the others.
    """
    now = now or timezone.now()
    horizon = horizon if horizon is not None else timedelta(seconds=settings.SCHEDULER_HORIZON_SECONDS)
    lookback = now - timedelta(days=settings.SCHEDULER_LOOKBACK_DAYS)
    report = FireReport()
    schedules = list(ScheduledOrder.objects.all())
    settled = set(
        ScheduledOrderRun.objects.filter(due_at__gte=lookback - timedelta(days=1)).values_list(
            "schedule_id", "trading_date"
        )
    )
    for schedule in schedules:
        start = max(lookback, schedule.created_at)
        try:
            occurrences = scheduling.occurrences_between(schedule, start, now + horizon)
        except ApplicationError:
            logger.exception("scheduled order %s has an invalid schedule", schedule.pk)
            alert_raise(
                key=f"schedule.invalid:{schedule.pk}",
                kind="schedule.invalid",
                message=f"Scheduled order {schedule.name!r} cannot be computed; fix its schedule.",
                account=schedule.account,
            )
            continue
        for occurrence in occurrences:
            if (schedule.pk, occurrence.trading_date) in settled:
                continue
            try:
                report.add(scheduled_order_settle(schedule_id=schedule.pk, occurrence=occurrence, now=now))
            except DatabaseError:
                raise
            except Exception:
                # One schedule's bad data must not stop every later schedule on every tick; it
                # is retried next tick and the desk is told.
                logger.exception("settling %s of schedule %s failed", occurrence.trading_date, schedule.pk)
                report.errors += 1
                alert_raise(
                    key=f"schedule.error:{schedule.pk}",
                    kind="schedule.error",
                    message=f"Scheduled order {schedule.name!r} could not be settled; see the Celery log.",
                    severity=Alert.Severity.CRITICAL,
                    account=schedule.account,
                )
    return report


@dataclass(frozen=True)
class DryRun:
    """What a schedule would do: its next firings and whether its order would be accepted now."""

    next_firings: list[datetime]
    accepted: bool
    code: str
    message: str


class _RollBack(Exception):
    pass


def scheduled_order_dry_run(*, schedule: ScheduledOrder, actor: User | None, now: datetime | None = None) -> DryRun:
    """Show the next five firings and run the order through ``order_submit`` in a rolled-back transaction.

    Nothing is kept: the order, its rows and its outbox message are rolled back, so the
    worker never sees it. The pre-trade checks of the moment decide ``accepted``.

    :raises AccountNotMember: ``actor`` is not a member of the schedule's account.
    """
    require_actor(actor, account=schedule.account)
    firings = scheduling.next_firings(schedule, count=5, now=now)
    occurrence = scheduling.Occurrence(
        trading_date=(firings[0] if firings else timezone.now()).date(),
        due_at=firings[0] if firings else timezone.now(),
    )
    try:
        with transaction.atomic():
            order = _submit(schedule, occurrence, dry_run=True)
            raise _RollBack(order)
    except _RollBack:
        return DryRun(firings, True, "", "The order would be accepted now.")
    except ApplicationError as exc:
        return DryRun(firings, False, exc.code, exc.message)


def _set_enabled(*, schedule: ScheduledOrder, actor: User | None, enabled: bool, via: str) -> ScheduledOrder:
    require_actor(actor, account=schedule.account, perm="orders.change_scheduledorder")
    schedule = ScheduledOrder.objects.select_for_update().get(pk=schedule.pk)
    if schedule.enabled == enabled:
        return schedule
    schedule.enabled = enabled
    schedule.save(update_fields=["enabled"])
    audit_record(
        actor=actor,
        action="scheduled_order.resume" if enabled else "scheduled_order.pause",
        obj=schedule,
        account=schedule.account,
        before={"enabled": not enabled},
        after={"enabled": enabled},
        via=via,
    )
    return schedule


PENDING_STATUSES = (OrderStatus.PENDING_APPROVAL, OrderStatus.NEW)


@transaction.atomic
def scheduled_order_pause(*, schedule: ScheduledOrder, actor: User | None, via: str) -> ScheduledOrder:
    """Stop a schedule firing; an order already materialised but not yet due is cancelled.

    Pausing a paused schedule changes nothing.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not change this schedule.
    """
    schedule = _set_enabled(schedule=schedule, actor=actor, enabled=False, via=via)
    waiting = Order.objects.filter(
        scheduled_run__schedule=schedule, not_before__gt=timezone.now(), status__in=PENDING_STATUSES
    )
    for order in waiting:
        order_cancel(order=order, actor=actor, reason="schedule paused before its due time", via=via)
    return schedule


@transaction.atomic
def scheduled_order_resume(*, schedule: ScheduledOrder, actor: User | None, via: str) -> ScheduledOrder:
    """Let a paused schedule fire again from its next occurrence; resuming an enabled one changes nothing.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not change this schedule.
    """
    return _set_enabled(schedule=schedule, actor=actor, enabled=True, via=via)
