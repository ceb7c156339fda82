"""Stale and rejected orders: limits re-priced toward the touch (or cancelled), transient rejections re-placed."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db import transaction

from accounts.models import BrokerAccount
from accounts.services import jsonable
from orders.models import Order, OrderStatus, OrderType, Side
from orders.monitoring.common import PROTECT_PREFIX, MonitoringReport, service_try, tick_round
from orders.monitoring.policy import Policy, policy_for
from orders.quotes import touch_price
from orders.services import order_cancel, order_modify, order_submit
from orders.services.events import OrderEventKind, order_event_record
from tradeconsole.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# Rejections worth re-placing: the gate's rate limit, IB pacing, and a gateway that was not ready.
TRANSIENT_REJECT_CODES = frozenset(
    {"risk.rate", "broker.100", "broker.1100", "broker.502", "broker.504", "gateway.not_ready", "worker.not_ready"}
)
# A rejected order older than this is history, not something to re-place.
REJECT_RETRY_WINDOW = timedelta(minutes=10)
RETRY_NAMESPACE = uuid.UUID("0b7d1c52-5a0e-4c1b-8e8f-2f4f3d0f6a21")


def repriced_limit(*, limit: Decimal, touch: Decimal, side: str, tick: Decimal) -> Decimal:
    """Return a limit moved halfway to ``touch`` (at least one tick, never past it), on the tick."""
    if side == Side.BUY:
        if limit >= touch:
            return limit
        return min(touch, max(limit + tick, tick_round((limit + touch) / 2, tick, ROUND_CEILING)))
    if limit <= touch:
        return limit
    return max(touch, min(limit - tick, tick_round((limit + touch) / 2, tick, ROUND_FLOOR)))


def stale_orders_handle(*, account: BrokerAccount, now: datetime, report: MonitoringReport) -> None:
    """Re-price toward the touch, or cancel, the account's limit orders working longer than the policy allows.

    Protective orders are left alone. An order is re-priced at most ``stale_reprice_max`` times
    and then cancelled; each action writes an ``OrderEvent`` (``monitor.repriced`` or the
    cancel's own event) with the reason.
    """

    orders = (
        Order.objects.filter(
            account=account,
            order_type=OrderType.LIMIT,
            status__in=[OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED],
        )
        .exclude(oca_group__startswith=PROTECT_PREFIX)
        .select_related("instrument")
    )
    policies: dict[int, Policy] = {}
    for order in orders:
        policy = policies.get(order.instrument_id) or policy_for(account=account, instrument=order.instrument)
        policies[order.instrument_id] = policy
        if not policy.stale_order_seconds:
            continue
        repricings = list(
            order.events.filter(kind=OrderEventKind.MONITOR_REPRICED).values_list("created_at", flat=True)
        )
        working_since = max([order.submitted_at or order.created_at, *repricings])
        age = (now - working_since).total_seconds()
        if age < policy.stale_order_seconds:
            continue
        reason = f"stale: working {age:.0f} s, over the {policy.stale_order_seconds} s the policy allows"
        touch = touch_price(order.instrument, order.side)
        target = (
            repriced_limit(limit=order.limit_price, touch=touch, side=order.side, tick=order.instrument.min_tick)
            if touch is not None
            else order.limit_price
        )
        if (
            policy.stale_order_action == "cancel"
            or len(repricings) >= policy.stale_reprice_max
            or target == order.limit_price
        ):
            if service_try(order_cancel, order=order, actor=None, reason=reason, via="monitor") is not None:
                report.cancelled.append(str(order.client_order_id))
            continue
        with transaction.atomic():
            modified = service_try(order_modify, order=order, actor=None, limit_price=target, via="monitor")
            if modified is None:
                continue
            _note(
                modified,
                OrderEventKind.MONITOR_REPRICED,
                f"{reason}; limit {order.limit_price.normalize():f} → {target.normalize():f} toward the touch "
                f"{touch.normalize():f}",
                data=jsonable(
                    {"from": order.limit_price, "to": target, "touch": touch, "repricing": len(repricings) + 1}
                ),
            )
        report.repriced.append(str(order.client_order_id))


def _note(order: Order, kind: OrderEventKind, detail: str, data: dict | None = None) -> None:
    """Record on ``order`` one of the monitor's events that leave its state as it is."""
    order_event_record(
        order=order, kind=kind, from_status=order.status, to_status=order.status, detail=detail, data=data
    )


def replacement_client_order_id(original: Order) -> uuid.UUID:
    """Return the client order id of the re-placement of ``original`` (stable, so it is placed once)."""
    return uuid.uuid5(RETRY_NAMESPACE, str(original.client_order_id))


def _attempt(order: Order) -> int:
    event = order.events.filter(kind=OrderEventKind.MONITOR_REPLACEMENT_OF).first()
    return int(event.data.get("attempt", 0)) if event is not None else 0


def rejected_orders_replace(*, account: BrokerAccount, now: datetime, report: MonitoringReport) -> None:
    """Re-place the account's orders rejected for a transient reason, at most ``reject_retry_max`` times in a chain.

    The replacement copies the original, gets a client order id derived from it (so it is
    created once even if this runs twice) and is linked both ways by ``OrderEvent``s. A chain
    that has used its attempts gets a ``monitor.not_replaced`` event and is left to the desk.
    """

    if not account.trading_enabled:
        return
    rejected = (
        Order.objects.filter(
            account=account,
            status=OrderStatus.REJECTED,
            reject_code__in=TRANSIENT_REJECT_CODES,
            updated_at__gte=now - REJECT_RETRY_WINDOW,
        )
        .exclude(events__kind__in=[OrderEventKind.MONITOR_REPLACED, OrderEventKind.MONITOR_NOT_REPLACED])
        .select_related("instrument", "trading_session")
        .distinct()
    )
    for order in rejected:
        policy = policy_for(account=account, instrument=order.instrument)
        attempt = _attempt(order) + 1
        if attempt > policy.reject_retry_max:
            if policy.reject_retry_max:
                _note(
                    order,
                    OrderEventKind.MONITOR_NOT_REPLACED,
                    f"rejected ({order.reject_code}) after {attempt - 1} re-placements; the policy allows "
                    f"{policy.reject_retry_max}",
                )
            continue
        with transaction.atomic():
            try:
                with transaction.atomic():
                    replacement = order_submit(
                        actor=None,
                        account=account,
                        instrument=order.instrument,
                        side=order.side,
                        quantity=order.remaining_quantity,
                        order_type=order.order_type,
                        limit_price=order.limit_price,
                        stop_price=order.stop_price,
                        tif=order.tif,
                        outside_rth=order.outside_rth,
                        oca_group=order.oca_group,
                        oca_type=order.oca_type,
                        source=order.source,
                        trading_session=order.trading_session
                        if order.trading_session and order.trading_session.status == "running"
                        else None,
                        client_order_id=replacement_client_order_id(order),
                        via="monitor",
                    )
            except ApplicationError as exc:
                _note(
                    order,
                    OrderEventKind.MONITOR_NOT_REPLACED,
                    f"re-placement refused: {exc.code}: {exc.message}"[:500],
                )
                continue
            reason = (
                f"rejected for a transient reason ({order.reject_code}); "
                f"re-placement {attempt} of {policy.reject_retry_max}"
            )
            _note(
                order,
                OrderEventKind.MONITOR_REPLACED,
                reason,
                data={"replacement": str(replacement.client_order_id), "attempt": attempt},
            )
            order_event_record(
                order=replacement,
                kind=OrderEventKind.MONITOR_REPLACEMENT_OF,
                to_status=replacement.status,
                detail=reason,
                data={"original": str(order.client_order_id), "attempt": attempt},
            )
        report.replaced.append(str(replacement.client_order_id))
