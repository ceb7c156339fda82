"""Executions and their commissions: fills recorded once by ``exec_id``, positions moved by FIFO
lots, the broker's positions stored beside the book's.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from accounts.announce import announce_object
from accounts.models import BrokerAccount
from accounts.services import (
    audit_record,
)
from orders import pnl, sql
from orders.exceptions import (
    FillInvalid,
)
from orders.models import (
    Fill,
    Instrument,
    Order,
    OrderStatus,
    PendingCommission,
    Position,
    PositionLot,
    Side,
)
from orders.services.common import IB_UNSET_DOUBLE, MONEY_STEP, PRICE_STEP, decimal_text, order_lock
from orders.services.events import OrderEventKind
from orders.services.fill_corrections import fill_correct, fill_revisions, lock_key
from orders.services.states import (
    fill_commission_set,
    order_fill_totals,
    order_modify_outcome_audit,
    order_pending_apply,
    order_status_apply,
)


def _load_lots(position: Position) -> list[pnl.Lot]:
    return [
        pnl.Lot(quantity=lot.quantity, price=lot.price, ref=lot.pk, opened_at=lot.opened_at)
        for lot in position.lots.order_by("opened_at", "id")
    ]


def _store_lots(position: Position, before: list[pnl.Lot], after: list[pnl.Lot], fill: Fill) -> None:
    kept = {lot.ref: lot for lot in after if lot.ref is not None and lot.ref != "new"}
    for lot in before:
        if lot.ref not in kept:
            PositionLot.objects.filter(pk=lot.ref).delete()
        elif kept[lot.ref].quantity != lot.quantity:
            PositionLot.objects.filter(pk=lot.ref).update(quantity=kept[lot.ref].quantity)
    for lot in after:
        if lot.ref == "new":
            PositionLot.objects.create(
                position=position, fill=fill, quantity=lot.quantity, price=lot.price, opened_at=fill.executed_at
            )


def _apply_fill_to_order(order: Order, fill: Fill, message_id: Any) -> None:
    """Raise the order's filled quantity to its fills' total and move it to (partially) filled.

    Fills are measured against ``quantity``, what the broker is known to work, never a pending
    one: an order modified 200 → 100 whose modify is not confirmed stays ``PARTIALLY_FILLED``
    after 100 filled (the modify may have been refused and 100 more be live). One inference is
    safe: fills beyond ``quantity`` but within a pending larger quantity prove the broker took
    the increase, so the pending modify is applied.
    """
    order = order_lock(order)
    quantity, average = order_fill_totals(order)
    fields: set[str] = set()
    if quantity > order.filled_quantity:
        order.filled_quantity = quantity
        order.average_fill_price = average
        fields |= {"filled_quantity", "average_fill_price"}
    data = {"exec_id": fill.exec_id, "quantity": decimal_text(fill.quantity), "price": decimal_text(fill.price)}
    confirmed: dict[str, str | None] = {}
    if order.pending_quantity is not None and order.quantity < order.filled_quantity <= order.pending_quantity:
        confirmed = order_pending_apply(order, fields)
        data["modify_confirmed"] = confirmed
    target = OrderStatus.FILLED if order.filled_quantity >= order.quantity else OrderStatus.PARTIALLY_FILLED
    order_status_apply(order, target, kind=OrderEventKind.FILLED, message_id=message_id, fields=fields, data=data)
    if confirmed:
        order_modify_outcome_audit(order, action="order.modify_confirmed", changes=confirmed)


def _apply_fill_to_session(order: Order, realized: Decimal) -> None:
    from strategies.models import TradingSession

    session = TradingSession.objects.select_for_update().get(pk=order.trading_session_id)
    session.realized_pnl += realized
    session.trade_count += 1
    if realized > 0:
        session.win_count += 1
    total = session.realized_pnl + session.unrealized_pnl
    session.peak_pnl = max(session.peak_pnl, total)
    session.max_drawdown = max(session.max_drawdown, session.peak_pnl - total)
    session.save(update_fields=["realized_pnl", "trade_count", "win_count", "peak_pnl", "max_drawdown"])
    announce_object(session)


@transaction.atomic
def fill_record(
    *,
    exec_id: str,
    account: BrokerAccount,
    instrument: Instrument,
    side: str,
    quantity: Decimal | int | str,
    price: Decimal | str | float,
    executed_at: datetime,
    order: Order | None = None,
    message_id: Any = None,
) -> Fill | None:
    """Record one execution and move the position (FIFO lots, realized PnL); None for a duplicate ``exec_id``.

    Safe under concurrency: the position row is locked first, and the unique ``exec_id``
    decides between two deliveries of the same execution. When the order is known its filled
    quantity, average price and state follow the fills (forward only), and its trading
    session's metrics are updated.

    A commission report that arrived before this execution (``fill_apply_commission``) is
    attached in the same transaction. An IB correction (same execId stem, higher revision)
    replaces the fill it corrects (``fill_corrections.fill_correct``) and returns it; the
    original arriving after its correction is dropped (None).

    :raises FillInvalid: a bad side, a quantity that is not positive, a price below zero, or
        an order of another account or instrument.
    """
    if not exec_id:
        raise FillInvalid("A fill needs an exec_id.", field="exec_id")
    if side not in Side.values:
        raise FillInvalid(f"Unknown side {side!r}.", field="side")
    quantity, price = Decimal(str(quantity)), Decimal(str(price))
    if quantity <= 0 or not quantity.is_finite():
        raise FillInvalid("A fill quantity must be positive.", field="quantity")
    if price < 0 or not price.is_finite():
        raise FillInvalid("A fill price cannot be negative.", field="price")
    if order is not None and (order.account_id != account.pk or order.instrument_id != instrument.pk):
        raise FillInvalid("The fill's account or instrument is not its order's.", field="order")
    _lock_exec_id(exec_id)
    if Fill.objects.filter(exec_id=exec_id).exists():
        return None
    # IB's correction (same stem, higher revision) replaces the fill it corrects; a late original is dropped.
    earlier, later = fill_revisions(exec_id=exec_id)
    if later is not None:
        return None
    if earlier is not None:
        return fill_correct(
            fill=earlier,
            exec_id=exec_id,
            quantity=quantity,
            price=price,
            executed_at=executed_at,
            message_id=message_id,
        )

    Position.objects.get_or_create(account=account, instrument=instrument)
    position = Position.objects.select_for_update().get(account=account, instrument=instrument)
    before = _load_lots(position)
    after, realized = pnl.apply_fill(
        before,
        side=side,
        quantity=quantity,
        price=price,
        multiplier=instrument.multiplier,
        ref="new",
        at=executed_at,
    )
    try:
        with transaction.atomic():
            fill = Fill.objects.create(
                exec_id=exec_id,
                order=order,
                account=account,
                instrument=instrument,
                side=side,
                quantity=quantity,
                price=price,
                executed_at=executed_at,
                realized_pnl=realized.quantize(MONEY_STEP),
            )
    except IntegrityError:
        # The same execution committed by a concurrent delivery while we waited for the lock.
        return None
    early = PendingCommission.objects.filter(exec_id=exec_id).first()
    if early is not None:
        fill_commission_set(fill, early.commission, early.currency, early.realized_pnl)
        early.delete()
    _store_lots(position, before, after, fill)
    position_before = {"quantity": decimal_text(position.quantity), "realized_pnl": decimal_text(position.realized_pnl)}
    position.quantity = pnl.net_quantity(after)
    position.average_cost = pnl.average_cost(after).quantize(PRICE_STEP)
    position.realized_pnl = (position.realized_pnl + realized).quantize(MONEY_STEP)
    position.save(update_fields=["quantity", "average_cost", "realized_pnl", "updated_at"])
    announce_object(position, account)
    if order is not None:
        _apply_fill_to_order(order, fill, message_id)
        if order.trading_session_id:
            _apply_fill_to_session(order, realized)
    audit_record(
        actor=None,
        action="fill.record",
        obj=fill,
        account=account,
        before=position_before,
        after={
            "exec_id": exec_id,
            "side": side,
            "quantity": decimal_text(quantity),
            "price": decimal_text(price),
            "position": decimal_text(position.quantity),
            "realized_pnl": decimal_text(realized),
        },
        via="bridge",
    )
    return fill


def _lock_exec_id(exec_id: str) -> None:
    """Serialize the fill and the commission of one execution until the transaction ends.

    Without it a commission stored as pending while its fill is being recorded (neither sees
    the other's uncommitted row) would never be attached. On the stem: every revision of one
    execution (IB's corrections) serializes too.
    """
    sql.execution_lock(lock_key(exec_id))


def _commission_values(
    commission: Decimal | str | float, currency: str, realized_pnl: Decimal | str | float | None
) -> tuple[Decimal, str, Decimal | None]:
    """IB's report as stored: commission and broker PnL to the cent column, IB's "no value" as None.

    :raises FillInvalid: a commission that is not a finite number.
    """
    try:
        amount = Decimal(str(commission))
        broker_pnl = Decimal(str(realized_pnl)) if realized_pnl not in (None, "") else None
    except ArithmeticError:
        raise FillInvalid("The commission report is not a number.", field="commission") from None
    if not amount.is_finite():
        raise FillInvalid("The commission is not a finite number.", field="commission")
    if broker_pnl is not None and (not broker_pnl.is_finite() or abs(broker_pnl) >= IB_UNSET_DOUBLE):
        broker_pnl = None
    return (
        amount.quantize(MONEY_STEP),
        (currency or "")[:3],
        broker_pnl.quantize(MONEY_STEP) if broker_pnl is not None else None,
    )


@transaction.atomic
def fill_apply_commission(
    *, exec_id: str, commission: Decimal | str | float, currency: str, realized_pnl: Decimal | str | float | None = None
) -> Fill | None:
    """Attach IB's commission report to its fill; a report ahead of its fill is kept until the fill comes.

    Returns the fill, or None when the fill is not recorded yet: the report is then stored as a
    ``PendingCommission`` that ``fill_record`` attaches (and deletes) in its transaction, so a
    report is never lost and never waits for anything. Applying the same report twice leaves
    the same values (a repeated early report replaces the stored one). IB's "no value" (the
    largest double) for ``realized_pnl`` is stored as empty.

    :raises FillInvalid: no exec_id, or a commission that is not a finite number.
    """
    if not exec_id:
        raise FillInvalid("A commission report needs an exec_id.", field="exec_id")
    values = _commission_values(commission, currency, realized_pnl)
    _lock_exec_id(exec_id)
    fill = Fill.objects.select_for_update().filter(exec_id=exec_id).first()
    if fill is None and fill_revisions(exec_id=exec_id)[1] is not None:
        # The report of an execution IB has corrected since: the correction's own report counts.
        return None
    if fill is None:
        PendingCommission.objects.update_or_create(
            exec_id=exec_id, defaults={"commission": values[0], "currency": values[1], "realized_pnl": values[2]}
        )
        return None
    fill_commission_set(fill, *values)
    return fill


@transaction.atomic
def position_record_broker(
    *,
    account: BrokerAccount,
    instrument: Instrument,
    quantity: Decimal | int | str,
    average_cost: Decimal | str | float,
    reported_at: datetime,
) -> Position:
    """Store what the broker reports for a position beside the book's own figures.

    Forward only: an older report than the stored one is ignored. The book's quantity is not
    touched; comparing the two is the monitor's job.
    """
    Position.objects.get_or_create(account=account, instrument=instrument)
    position = Position.objects.select_for_update().get(account=account, instrument=instrument)
    if position.broker_reported_at is not None and position.broker_reported_at > reported_at:
        return position
    position.broker_quantity = Decimal(str(quantity))
    position.broker_average_cost = Decimal(str(average_cost)).quantize(PRICE_STEP)
    position.broker_reported_at = reported_at
    position.save(update_fields=["broker_quantity", "broker_average_cost", "broker_reported_at", "updated_at"])
    announce_object(position)
    return position
