"""Create, change and delete scheduled orders (their firing lives in ``orders.services.schedule_firing``).

Services in the project's shape: keyword-only, atomic, membership and model permission checked,
an audit row per change. The template is validated as an order would be (fields, quantity, the
prices its type needs, on the instrument's tick) and as a schedule (zone, weekdays, calendar).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from accounts.models import User
from accounts.services import audit_record, jsonable, require_actor
from orders import scheduling, validation
from orders.exceptions import ScheduledOrderHasRuns
from orders.models import OrderSource, ScheduledOrder
from orders.services.quantity import check_quantity_increment

EDITABLE_FIELDS = (
    "name",
    "instrument",
    "side",
    "quantity",
    "order_type",
    "limit_price",
    "stop_price",
    "tif",
    "strategy",
    "time_of_day",
    "time_zone",
    "weekdays",
    "valid_from",
    "valid_until",
    "exchange_calendar",
    "grace_seconds",
)


def _snapshot(schedule: ScheduledOrder) -> dict[str, Any]:
    data = {name: getattr(schedule, name) for name in EDITABLE_FIELDS if name not in ("instrument", "strategy")}
    data.update(
        account=schedule.account.code,
        instrument=schedule.instrument.symbol,
        strategy=schedule.strategy.name if schedule.strategy_id else None,
        enabled=schedule.enabled,
    )
    return jsonable(data)


def _check(schedule: ScheduledOrder) -> None:
    validation.check_fields(
        side=schedule.side, order_type=schedule.order_type, tif=schedule.tif, source=OrderSource.SCHEDULER
    )
    validation.check_quantity(schedule.quantity)
    check_quantity_increment(schedule.quantity, schedule.instrument)
    validation.check_prices(schedule.order_type, schedule.limit_price, schedule.stop_price, schedule.instrument)
    scheduling.validate(schedule)


@transaction.atomic
def scheduled_order_create(*, actor: User | None, account, via: str, **fields: Any) -> ScheduledOrder:
    """Create a schedule on ``account`` from ``fields`` (see ``EDITABLE_FIELDS``), enabled.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not schedule orders on ``account``.
    :raises OrderInvalid, OrderQuantityNotPositive, OrderQuantityIncrement, OrderLimitPriceRequired,
        OrderPriceOffTick…,
        ScheduleInvalid: the template or the schedule is not valid.
    """
    require_actor(actor, account=account, perm="orders.add_scheduledorder")
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown scheduled order fields: {sorted(unknown)}")
    schedule = ScheduledOrder(account=account, created_by=actor, **fields)
    _check(schedule)
    schedule.save()
    audit_record_change(actor=actor, action="scheduled_order.create", schedule=schedule, before=None, via=via)
    return schedule


@transaction.atomic
def scheduled_order_update(*, schedule: ScheduledOrder, actor: User | None, via: str, **changes: Any) -> ScheduledOrder:
    """Change fields of a schedule (not its account, nor ``enabled``: pause or resume it for that).

    :raises AccountNotMember, PermissionRequired: ``actor`` may not change this schedule.
    :raises the validation errors of ``scheduled_order_create``.
    """
    require_actor(actor, account=schedule.account, perm="orders.change_scheduledorder")
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"unknown scheduled order fields: {sorted(unknown)}")
    schedule = ScheduledOrder.objects.select_for_update().select_related("account", "instrument").get(pk=schedule.pk)
    before = _snapshot(schedule)
    for name, value in changes.items():
        setattr(schedule, name, value)
    _check(schedule)
    fields = list(changes)
    if fields:
        schedule.save(update_fields=fields)
        audit_record_change(actor=actor, action="scheduled_order.update", schedule=schedule, before=before, via=via)
    return schedule


@transaction.atomic
def scheduled_order_delete(*, schedule: ScheduledOrder, actor: User | None, via: str) -> None:
    """Delete a schedule that never fired.

    :raises AccountNotMember, PermissionRequired: ``actor`` may not delete schedules of this account.
    :raises ScheduledOrderHasRuns: it has fired (its runs keep their history); disable it instead.
    """
    require_actor(actor, account=schedule.account, perm="orders.delete_scheduledorder")
    schedule = ScheduledOrder.objects.select_for_update().select_related("account", "instrument").get(pk=schedule.pk)
    before = _snapshot(schedule)
    if schedule.runs.exists():
        raise ScheduledOrderHasRuns()
    pk = schedule.pk
    try:
        with transaction.atomic():
            schedule.delete()
    except ProtectedError:
        raise ScheduledOrderHasRuns()
    schedule.pk = pk
    audit_record_change(actor=actor, action="scheduled_order.delete", schedule=schedule, before=before, via=via)


def audit_record_change(*, actor, action: str, schedule: ScheduledOrder, before, via: str) -> None:
    """Append the audit row of one change of ``schedule``."""
    after = None if action.endswith(".delete") else _snapshot(schedule)
    audit_record(
        actor=actor, action=action, obj=schedule, account=schedule.account, before=before, after=after, via=via
    )
