"""Protection: each position's stop-loss and/or take-profit, one broker-side OCA pair, kept in step with it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from accounts.models import Alert, BrokerAccount, User
from accounts.selectors import accounts_for_user
from accounts.services import alert_raise, jsonable
from orders.models import (
    Instrument,
    OcaType,
    Order,
    OrderSource,
    OrderStatus,
    OrderType,
    Position,
    Side,
    TimeInForce,
)
from orders.monitoring.common import PROTECT_PREFIX, MonitoringReport, open_alert, service_try, tick_round
from orders.monitoring.policy import Policy, policy_for
from orders.services import order_cancel, order_modify, order_submit
from orders.services.events import OrderEventKind, order_event_record
from orders.transitions import OPEN_STATUSES
from tradeconsole.exceptions import ApplicationError

HUNDRED = Decimal("100")
# After this many broker rejections of its protective orders a position is left to the desk.
PROTECTION_ATTEMPTS = 3


def protective_orders(*, account: BrokerAccount, instrument: Instrument, statuses=OPEN_STATUSES):
    """Return the account's protective orders in ``instrument`` (monitor-placed, OCA group ``protect:…``)."""
    return Order.objects.filter(
        account=account,
        instrument=instrument,
        source=OrderSource.MONITOR,
        oca_group__startswith=PROTECT_PREFIX,
        status__in=statuses,
    )


def protective_prices(
    *, quantity: Decimal, average_cost: Decimal, policy: Policy, tick: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    """Return (stop price, take-profit limit) for a position, on the instrument's tick.

    A long is protected below its cost by the stop and above it by the take-profit, a short the
    other way round; each price is rounded away from the cost so the protection never tightens.
    """
    long = quantity > 0
    stop = take = None
    if policy.stop_loss_pct:
        move = average_cost * policy.stop_loss_pct / HUNDRED
        stop = (
            tick_round(average_cost - move, tick, ROUND_FLOOR)
            if long
            else tick_round(average_cost + move, tick, ROUND_CEILING)
        )
    if policy.take_profit_pct:
        move = average_cost * policy.take_profit_pct / HUNDRED
        take = (
            tick_round(average_cost + move, tick, ROUND_CEILING)
            if long
            else tick_round(average_cost - move, tick, ROUND_FLOOR)
        )
    return stop, take


def protection_ensure(*, account: BrokerAccount, now: datetime, report: MonitoringReport) -> None:
    """Protect each open position its policy asks to protect; once, and not again while protection works.

    Flat positions have their leftover protective orders cancelled; a position whose size
    changed has its working protective orders resized. Refusals raise one alert per position
    and stop further attempts until the alert is resolved.
    """

    positions = Position.objects.filter(account=account).select_related("instrument")
    for position in positions:
        instrument = position.instrument
        working = list(protective_orders(account=account, instrument=instrument))
        if position.quantity == 0:
            for order in working:
                if order.status != OrderStatus.CANCEL_REQUESTED:
                    service_try(order_cancel, order=order, actor=None, reason="position is flat", via="monitor")
                    report.cancelled.append(str(order.client_order_id))
            continue
        exit_side = Side.SELL if position.quantity > 0 else Side.BUY
        for order in working:
            if order.side != exit_side and order.status != OrderStatus.CANCEL_REQUESTED:
                service_try(order_cancel, order=order, actor=None, reason="position changed side", via="monitor")
                report.cancelled.append(str(order.client_order_id))
        working = [o for o in working if o.side == exit_side and o.status != OrderStatus.CANCEL_REQUESTED]
        size = abs(position.quantity)
        if working:
            for order in working:
                if order.remaining_quantity != size and order.status != OrderStatus.SUBMIT_UNKNOWN:
                    service_try(
                        order_modify, order=order, actor=None, quantity=order.filled_quantity + size, via="monitor"
                    )
            continue
        policy = policy_for(account=account, instrument=instrument)
        if not policy.wants_protection:
            continue
        refused_key = f"protection.refused:{account.code}:{instrument.symbol}"
        if open_alert(refused_key) is not None:
            continue
        since = _position_opened_at(position)
        rejected = protective_orders(account=account, instrument=instrument, statuses=[OrderStatus.REJECTED]).filter(
            created_at__gte=since
        )
        if since is not None and rejected.count() >= PROTECTION_ATTEMPTS:
            alert_raise(
                key=refused_key,
                kind="protection.refused",
                message=f"{account.code} {instrument.symbol}: the broker rejected its protective orders "
                f"{PROTECTION_ATTEMPTS} times; the position is unprotected.",
                severity=Alert.Severity.CRITICAL,
                account=account,
            )
            report.alerts.append(refused_key)
            continue
        placed = protection_place(position=position, policy=policy, report=report)
        report.protective_orders.extend(str(order.client_order_id) for order in placed)


@transaction.atomic
def protection_place(*, position: Position, policy: Policy, report: MonitoringReport) -> list[Order]:
    """Place the protective stop-loss and/or take-profit of ``position`` (one OCA group), unless one works.

    The position row is locked first and the check for working protective orders repeated
    under the lock, so two monitors can never both protect it. A refused leg raises an alert
    and the other leg is still placed. Returns the orders placed.
    """

    position = Position.objects.select_for_update().select_related("account", "instrument").get(pk=position.pk)
    account, instrument = position.account, position.instrument
    if position.quantity == 0 or protective_orders(account=account, instrument=instrument).exists():
        return []
    stop, take = protective_prices(
        quantity=position.quantity, average_cost=position.average_cost, policy=policy, tick=instrument.min_tick
    )
    side = Side.SELL if position.quantity > 0 else Side.BUY
    group = f"{PROTECT_PREFIX}{account.code}:{instrument.symbol}:{uuid.uuid4().hex[:12]}"
    legs = []
    if stop is not None:
        legs.append(("stop-loss", {"order_type": OrderType.STOP, "stop_price": stop}))
    if take is not None:
        legs.append(("take-profit", {"order_type": OrderType.LIMIT, "limit_price": take}))
    placed, refused = [], []
    for name, prices in legs:
        try:
            with transaction.atomic():
                placed.append(
                    order_submit(
                        actor=None,
                        account=account,
                        instrument=instrument,
                        side=side,
                        quantity=abs(position.quantity),
                        tif=TimeInForce.GTC,
                        oca_group=group,
                        # At the broker: a fill of one leg reduces the other by as much (a full fill
                        # cancels it), with block, so the pair never closes more than the position.
                        oca_type=OcaType.REDUCE_BLOCK,
                        source=OrderSource.MONITOR,
                        via="monitor",
                        **prices,
                    )
                )
        except ApplicationError as exc:
            refused.append(f"{name}: {exc.code}: {exc.message}")
    for order in placed:
        order_event_record(
            order=order,
            kind=OrderEventKind.MONITOR_PROTECT,
            to_status=order.status,
            detail=f"protects {position.quantity.normalize():f} {instrument.symbol} at cost "
            f"{position.average_cost.normalize():f}",
            data=jsonable(
                {"oca_group": group, "stop_loss_pct": policy.stop_loss_pct, "take_profit_pct": policy.take_profit_pct}
            ),
        )
    if refused:
        key = f"protection.refused:{account.code}:{instrument.symbol}"
        alert_raise(
            key=key,
            kind="protection.refused",
            message=f"{account.code} {instrument.symbol}: protective order refused ({'; '.join(refused)})"[:500],
            severity=Alert.Severity.CRITICAL,
            account=account,
        )
        report.alerts.append(key)
    return placed


def _position_opened_at(position: Position) -> datetime | None:
    return position.lots.order_by("opened_at").values_list("opened_at", flat=True).first()


@dataclass(frozen=True)
class UnprotectedPosition:
    """A position whose policy asks for protection and that has no working protective order."""

    account: str
    symbol: str
    quantity: Decimal
    average_cost: Decimal
    since: datetime | None
    seconds: float | None
    wants_stop_loss: bool
    wants_take_profit: bool


def unprotected_positions(*, user: User, now: datetime | None = None) -> list[UnprotectedPosition]:
    """Return the open positions of ``user``'s accounts that should be protected and are not, longest first.

    ``since`` is when the position last became unprotected: when it was opened, or when its
    last protective order ended, whichever is later.
    """
    now = now or timezone.now()
    found = []
    positions = (
        Position.objects.filter(account__in=accounts_for_user(user))
        .exclude(quantity=0)
        .select_related("account", "instrument")
    )
    for position in positions:
        account, instrument = position.account, position.instrument
        policy = policy_for(account=account, instrument=instrument)
        if not policy.wants_protection or protective_orders(account=account, instrument=instrument).exists():
            continue
        opened = _position_opened_at(position)
        ended = (
            protective_orders(account=account, instrument=instrument, statuses=[s for s in OrderStatus.values])
            .exclude(status__in=OPEN_STATUSES)
            .aggregate(at=Max("updated_at"))["at"]
        )
        since = max(filter(None, [opened, ended]), default=None)
        found.append(
            UnprotectedPosition(
                account=account.code,
                symbol=instrument.symbol,
                quantity=position.quantity,
                average_cost=position.average_cost,
                since=since,
                seconds=(now - since).total_seconds() if since else None,
                wants_stop_loss=bool(policy.stop_loss_pct),
                wants_take_profit=bool(policy.take_profit_pct),
            )
        )
    return sorted(found, key=lambda item: -(item.seconds or 0))
