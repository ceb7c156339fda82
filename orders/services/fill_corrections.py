"""IB's execution corrections in the book: the corrected execution replaces the fill it corrects.

An execId reads ``<stem>.<revision>``; IB corrects an execution by sending it again under the same
stem with a higher revision (``execution_worker.messages.executions``). The book keeps one fill per
execution: the fill row takes the correction's execId, quantity, price and time, its commission
waits for the correction's report, and the position (lots, realized PnL), the fills' realized PnL,
their trading sessions and the order's filled quantity and average price are recomputed. An
``OrderEvent`` (``fill.corrected``) and an audit row keep what was replaced.

Called by ``orders.services.fill_record`` and ``fill_apply_commission``, inside their transaction
and under the execution's lock (taken on the stem, so every revision of one execution serializes).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.announce import announce_object
from accounts.services import audit_record
from execution_worker.messages.executions import exec_revision
from orders import pnl
from orders.models import Fill, Order, OrderStatus, PendingCommission, Position, PositionLot
from orders.services.common import decimal_text
from orders.services.events import OrderEventKind
from orders.services.states import fill_commission_set, order_fill_totals, order_status_apply

MONEY_STEP = Decimal("0.0001")
PRICE_STEP = Decimal("0.000001")


def lock_key(exec_id: str) -> str:
    """The key an execution's fill and commission lock on: its stem, shared by every revision."""
    parsed = exec_revision(exec_id)
    return parsed[0] if parsed is not None else exec_id


def fill_revisions(*, exec_id: str) -> tuple[Fill | None, Fill | None]:
    """Return ``(earlier, later)``: the booked fill of another revision of ``exec_id``'s execution.

    ``earlier`` is the fill this execution corrects (lower revision), ``later`` one that already
    corrects it (higher revision: this is a late original, to be ignored). At most one fill per
    execution is ever booked, so at most one of the two is set. The row comes locked.
    """
    parsed = exec_revision(exec_id)
    if parsed is None:
        return None, None
    stem, revision = parsed
    for fill in Fill.objects.select_for_update().filter(exec_id__startswith=f"{stem}."):
        other = exec_revision(fill.exec_id)
        if other is None or other[0] != stem or other[1] == revision:
            continue
        return (fill, None) if other[1] < revision else (None, fill)
    return None, None


def fill_correct(
    *,
    fill: Fill,
    exec_id: str,
    quantity: Decimal,
    price: Decimal,
    executed_at: datetime,
    message_id: Any = None,
) -> Fill:
    """Replace the booked ``fill`` by its correction ``exec_id`` and recompute what follows from it.

    The fill's commission is cleared (IB reports the correction's own) unless the correction's
    report came first. The position is rebuilt from its fills in the order they were booked, so
    every later fill's realized PnL is right again; the order's filled quantity and average price
    are its fills' totals (they may go down: a correction is the broker's word).
    """
    before = {
        "exec_id": fill.exec_id,
        "quantity": decimal_text(fill.quantity),
        "price": decimal_text(fill.price),
        "executed_at": fill.executed_at.isoformat(),
        "commission": decimal_text(fill.commission),
    }
    fill.exec_id, fill.quantity, fill.price, fill.executed_at = exec_id, quantity, price, executed_at
    fill.commission, fill.commission_currency, fill.broker_realized_pnl = None, "", None
    fill.save(
        update_fields=[
            "exec_id",
            "quantity",
            "price",
            "executed_at",
            "commission",
            "commission_currency",
            "broker_realized_pnl",
        ]
    )
    early = PendingCommission.objects.filter(exec_id=exec_id).first()
    if early is not None:
        fill_commission_set(fill, early.commission, early.currency, early.realized_pnl)
        early.delete()
    # A report of the corrected execution still waiting for its fill would never be attached.
    PendingCommission.objects.filter(exec_id=before["exec_id"]).delete()
    position = Position.objects.select_for_update().get(account_id=fill.account_id, instrument_id=fill.instrument_id)
    position_before = {"quantity": decimal_text(position.quantity), "realized_pnl": decimal_text(position.realized_pnl)}
    _position_rebuild(position)
    after = {
        "exec_id": exec_id,
        "quantity": decimal_text(quantity),
        "price": decimal_text(price),
        "executed_at": executed_at.isoformat(),
    }
    if fill.order_id is not None:
        order = Order.objects.select_for_update().get(pk=fill.order_id)
        filled, average = order_fill_totals(order)
        fields: set[str] = set()
        if (filled, average) != (order.filled_quantity, order.average_fill_price):
            order.filled_quantity, order.average_fill_price = filled, average
            fields = {"filled_quantity", "average_fill_price"}
        # Forward when the correction completes the order; a filled order stays filled (recorded).
        target = OrderStatus.FILLED if filled >= order.quantity else OrderStatus.PARTIALLY_FILLED
        order_status_apply(
            order,
            target,
            kind=OrderEventKind.FILL_CORRECTED,
            message_id=message_id,
            fields=fields,
            data={"before": before, "after": after},
            detail=f"execution {before['exec_id']} corrected by {exec_id}",
        )
    audit_record(
        actor=None,
        action="fill.correct",
        obj=fill,
        account=fill.account,
        before={**before, "position": position_before},
        after={
            **after,
            "position": decimal_text(position.quantity),
            "realized_pnl": decimal_text(position.realized_pnl),
        },
        via="bridge",
    )
    return fill


def _position_rebuild(position: Position) -> None:
    """Replay the position's fills (in booking order) into its lots, the fills' and its realized PnL."""
    multiplier = position.instrument.multiplier
    lots: list[pnl.Lot] = []
    total = Decimal(0)
    fills = Fill.objects.filter(account_id=position.account_id, instrument_id=position.instrument_id).order_by("id")
    for fill in fills.select_related("order"):
        # As fill_record loads them: oldest opening first.
        lots.sort(key=lambda lot: (lot.opened_at, lot.ref))
        lots, realized = pnl.apply_fill(
            lots,
            side=fill.side,
            quantity=fill.quantity,
            price=fill.price,
            multiplier=multiplier,
            ref=fill.pk,
            at=fill.executed_at,
        )
        realized = realized.quantize(MONEY_STEP)
        total += realized
        if realized != fill.realized_pnl:
            delta, fill.realized_pnl = realized - fill.realized_pnl, realized
            fill.save(update_fields=["realized_pnl"])
            if fill.order is not None and fill.order.trading_session_id:
                _session_adjust(fill.order, delta)
    position.lots.all().delete()
    PositionLot.objects.bulk_create(
        PositionLot(position=position, fill_id=lot.ref, quantity=lot.quantity, price=lot.price, opened_at=lot.opened_at)
        for lot in lots
    )
    position.quantity = pnl.net_quantity(lots)
    position.average_cost = pnl.average_cost(lots).quantize(PRICE_STEP)
    position.realized_pnl = total.quantize(MONEY_STEP)
    position.save(update_fields=["quantity", "average_cost", "realized_pnl", "updated_at"])
    announce_object(position)


def _session_adjust(order: Order, delta: Decimal) -> None:
    """Move a trading session's realized PnL by what a correction changed (its trade count stays)."""
    from strategies.models import TradingSession

    session = TradingSession.objects.select_for_update().get(pk=order.trading_session_id)
    session.realized_pnl += delta
    total = session.realized_pnl + session.unrealized_pnl
    session.peak_pnl = max(session.peak_pnl, total)
    session.max_drawdown = max(session.max_drawdown, session.peak_pnl - total)
    session.save(update_fields=["realized_pnl", "peak_pnl", "max_drawdown"])
    announce_object(session)
