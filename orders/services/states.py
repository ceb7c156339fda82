"""How an order's state changes: status moves by the transition table, pending modifies applied
or undone, saves with ``update_fields``, fill totals and commissions stored.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.utils import timezone

from accounts.services import (
    audit_record,
)
from orders.models import (
    Fill,
    Order,
    OrderStatus,
)
from orders.services.common import PRICE_STEP, ZERO, decimal_text, order_snapshot
from orders.services.events import OrderEventKind, order_event_record
from orders.transitions import (
    FINAL_STATUSES,
    RANK,
    can_transition,
)
from tradeconsole import db


def order_status_set(order: Order, to_status: str, fields: set[str]) -> None:
    """Move ``order`` to ``to_status`` (already checked) and stamp the times that go with it."""
    order.status = to_status
    fields.add("status")
    now = timezone.now()
    if to_status == OrderStatus.SUBMITTED and order.submitted_at is None:
        order.submitted_at = now
        fields.add("submitted_at")
    if to_status in FINAL_STATUSES and order.completed_at is None:
        order.completed_at = now
        fields.add("completed_at")
    if to_status in FINAL_STATUSES:
        # Nothing works any more: a modify still unconfirmed can no longer apply.
        order_pending_clear(order, fields)


PRICE_FIELDS = ("limit_price", "stop_price")


def order_pending_clear(order: Order, fields: set[str]) -> dict[str, str | None]:
    """Forget the unanswered modify of ``order`` (its prices stay); return the quantity that was pending."""
    cleared = {"quantity": decimal_text(order.pending_quantity)} if order.pending_quantity is not None else {}
    if order.pending_quantity is not None:
        order.pending_quantity = None
        fields.add("pending_quantity")
    if order.modify_prior:
        order.modify_prior = {}
        fields.add("modify_prior")
    if order.modify_requested_at is not None:
        order.modify_requested_at = None
        fields.add("modify_requested_at")
    return cleared


def order_pending_apply(order: Order, fields: set[str]) -> dict[str, str | None]:
    """The broker confirmed the modify: the pending quantity becomes the order's; return what was applied.

    The prices sent with it are confirmed too (one placeOrder carries them all).
    """
    applied: dict[str, str | None] = {}
    if order.pending_quantity is not None:
        order.quantity = order.pending_quantity
        fields.add("quantity")
        applied["quantity"] = decimal_text(order.quantity)
    applied.update({name: decimal_text(getattr(order, name)) for name in PRICE_FIELDS if name in order.modify_prior})
    if "tif" in order.modify_prior:
        applied["tif"] = order.tif
    order_pending_clear(order, fields)
    return applied


def order_prior_prices_restore(order: Order, fields: set[str]) -> dict[str, str | None]:
    """The broker refused the modify: put back the prices (and TIF) it last confirmed; return them."""
    restored: dict[str, str | None] = {}
    for name in PRICE_FIELDS:
        if name in order.modify_prior:
            prior = order.modify_prior[name]
            setattr(order, name, Decimal(prior) if prior is not None else None)
            fields.add(name)
            restored[name] = prior
    if "tif" in order.modify_prior:
        order.tif = restored["tif"] = order.modify_prior["tif"]
        fields.add("tif")
    return restored


def order_modify_outcome_audit(order: Order, *, action: str, changes: dict) -> None:
    """Audit the broker's answer to a modify (``action``), with what it ``changes``; by the bridge."""
    audit_record(
        actor=None,
        action=action,
        obj=order,
        account=order.account,
        after={**order_snapshot(order), "confirmed": changes},
        via="bridge",
    )


def order_save(order: Order, fields: set[str]) -> None:
    """Write ``fields`` of ``order`` (and ``updated_at``) as ``save(update_fields=…)`` does."""
    # Plain SQL (db.update, the same values and signals as save(update_fields=...)): the bridge
    # saves an order for nearly every broker event, and the ORM's compile of the UPDATE cost more
    # CPU than PostgreSQL spent running it.
    if fields:
        db.update(order, fields | {"updated_at"})


def order_status_apply(
    order: Order,
    to_status: str,
    *,
    kind: OrderEventKind,
    message_id: Any,
    fields: set[str],
    data: dict,
    detail: str = "",
) -> bool:
    """Move ``order`` forward to ``to_status`` if the table allows it; record the event either way."""
    from_status = order.status
    if to_status == from_status:
        # Another partial fill or a repeated word: applied only if it brought something new.
        applied = bool(fields)
        note = detail or "no change of state"
    elif can_transition(from_status, to_status):
        order_status_set(order, to_status, fields)
        applied, note = True, detail
    else:
        applied = bool(fields)
        direction = "backward" if RANK.get(to_status, 0) <= RANK[from_status] else "not allowed"
        note = f"{from_status}→{to_status} {direction}: state kept" + (f"; {detail}" if detail else "")
    order_save(order, fields)
    order_event_record(
        order=order,
        kind=kind,
        from_status=from_status,
        to_status=order.status if applied else to_status,
        applied=applied,
        message_id=message_id,
        detail=note,
        data=data,
    )
    if from_status != order.status:
        audit_record(
            actor=None,
            action=f"order.{kind.split('.')[-1]}",
            obj=order,
            account=order.account,
            before={"status": from_status},
            after=order_snapshot(order),
            via="bridge",
        )
    return applied


def order_fill_totals(order: Order) -> tuple[Decimal, Decimal | None]:
    """The total quantity of ``order``'s fills and their average price (None without fills)."""
    value = ExpressionWrapper(F("quantity") * F("price"), output_field=DecimalField(max_digits=38, decimal_places=10))
    totals = Fill.objects.filter(order=order).aggregate(total_quantity=Sum("quantity"), total_value=Sum(value))
    quantity = totals["total_quantity"] or ZERO
    average = (totals["total_value"] / quantity).quantize(PRICE_STEP) if quantity else None
    return quantity, average


def fill_commission_set(fill: Fill, commission: Decimal, currency: str, realized_pnl: Decimal | None) -> None:
    """Store IB's commission report on ``fill``."""
    fill.commission, fill.commission_currency, fill.broker_realized_pnl = commission, currency, realized_pnl
    fill.save(update_fields=["commission", "commission_currency", "broker_realized_pnl"])
