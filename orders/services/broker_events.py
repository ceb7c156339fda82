"""What the bridge applies from the worker's events: accepted, rejected (the order or a command
about it), unknown, and IB's order status.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import Alert
from accounts.services import (
    alert_raise,
    audit_record,
)
from orders.exceptions import (
    OrderInvalid,
)
from orders.models import (
    Order,
    OrderStatus,
)
from orders.services.common import PRICE_STEP, message_seen, order_lock_by_client_id, order_snapshot
from orders.services.events import OrderEventKind, order_event_record
from orders.services.states import (
    order_modify_outcome_audit,
    order_pending_apply,
    order_pending_clear,
    order_prior_prices_restore,
    order_save,
    order_status_apply,
)
from orders.transitions import (
    RANK,
    can_revert_cancel,
    can_transition,
    status_from_broker,
)


@transaction.atomic
def order_mark_accepted(*, client_order_id: Any, order_id: int, message_id: Any = None) -> Order | None:
    """Record that the worker placed the order with IB ``order_id``: ``SUBMITTED`` if that is forward.

    Returns None for an unknown order; a redelivered message changes nothing.
    """
    order = order_lock_by_client_id(client_order_id)
    if order is None or message_seen(message_id):
        return order
    fields: set[str] = set()
    if order_id is not None and order.ib_order_id != int(order_id):
        order.ib_order_id = int(order_id)
        fields.add("ib_order_id")
    order_status_apply(
        order,
        OrderStatus.SUBMITTED,
        kind=OrderEventKind.ACCEPTED,
        message_id=message_id,
        fields=fields,
        data={"order_id": order_id},
    )
    return order


@transaction.atomic
def order_mark_rejected(*, client_order_id: Any, code: str, reason: str, message_id: Any = None) -> Order | None:
    """Record a refusal by the worker's gate or the broker: ``REJECTED`` with its code and reason.

    Returns None for an unknown order; a redelivered message or a late rejection of a final
    order changes nothing.
    """
    order = order_lock_by_client_id(client_order_id)
    if order is None or message_seen(message_id):
        return order
    fields: set[str] = set()
    if can_transition(order.status, OrderStatus.REJECTED):
        order.reject_code, order.reject_reason = str(code)[:64], str(reason)[:500]
        fields |= {"reject_code", "reject_reason"}
    order_status_apply(
        order,
        OrderStatus.REJECTED,
        kind=OrderEventKind.REJECTED,
        message_id=message_id,
        fields=fields,
        data={"code": code, "reason": reason},
        detail=f"{code}: {reason}",
    )
    return order


def _cancel_refused_status(order: Order) -> OrderStatus:
    """The working state an order whose cancel the broker refused goes back to.

    Something filled: ``PARTIALLY_FILLED``. Else the state the broker last reported if it is a
    working one (``SUBMITTED``), else the state the order had when the cancel was requested.
    """
    if order.filled_quantity > 0:
        return OrderStatus.PARTIALLY_FILLED
    reported = status_from_broker(order.broker_status, order.filled_quantity) if order.broker_status else None
    if reported == OrderStatus.SUBMITTED:
        return reported
    requested = order.events.filter(kind=OrderEventKind.CANCEL_REQUESTED).order_by("-created_at", "-id").first()
    if requested is not None and can_revert_cancel(OrderStatus.CANCEL_REQUESTED, requested.from_status):
        return OrderStatus(requested.from_status)
    return OrderStatus.SUBMITTED


@transaction.atomic
def order_mark_command_rejected(
    *, client_order_id: Any, action: str, code: str, reason: str, message_id: Any = None
) -> Order | None:
    """Record that the worker or the broker refused a command about an order (``order.rejected``).

    - ``place``: the order is ``REJECTED`` (``order_mark_rejected``).
    - ``modify``: the pending quantity is cleared and the prices the broker last confirmed are
      restored (``modify_prior``); an event (``modify_rejected``, ``applied=False``) records the
      code, the reason and what was undone, and ``modify_refusal`` keeps them for the desk to
      read until the next modify.
    - ``cancel``: the order is still working. An order in ``CANCEL_REQUESTED`` goes back to the
      working state (``_cancel_refused_status``; the one backward move the table allows, only
      here) so later statuses and fills apply as before, and a warning alert tells the desk the
      cancel did not happen. An order in any other state only gets the event.

    The rejection names no command, so a refused modify undoes every unanswered modify of the order.
    Returns None for an unknown order; a redelivered message (same ``message_id``) changes nothing.

    :raises OrderInvalid: ``action`` is not place, modify or cancel.
    """
    if action == "place":
        return order_mark_rejected(client_order_id=client_order_id, code=code, reason=reason, message_id=message_id)
    if action not in ("modify", "cancel"):
        raise OrderInvalid(f"Unknown rejected action {action!r}.", field="action")
    order = order_lock_by_client_id(client_order_id)
    if order is None or message_seen(message_id):
        return order
    before = order_snapshot(order)
    from_status = order.status
    fields: set[str] = set()
    data: dict[str, Any] = {"action": action, "code": code, "reason": reason}
    if action == "modify":
        data["restored"] = order_prior_prices_restore(order, fields)
        data["cleared"] = order_pending_clear(order, fields)
        order.modify_refusal = f"{code}: {reason}"[:500]
        fields.add("modify_refusal")
    elif order.status == OrderStatus.CANCEL_REQUESTED:
        working = _cancel_refused_status(order)
        order.status = working
        fields.add("status")
    order_save(order, fields)
    order_event_record(
        order=order,
        kind=OrderEventKind(f"{action}_rejected"),
        from_status=from_status,
        to_status=order.status,
        applied=False,
        message_id=message_id,
        detail=f"{action} refused: {code}: {reason}",
        data=data,
    )
    if fields:
        audit_record(
            actor=None,
            action=f"order.{action}_rejected",
            obj=order,
            account=order.account,
            before=before,
            after={**order_snapshot(order), "code": code, "reason": reason},
            via="bridge",
        )
    if action == "cancel" and from_status != order.status:
        alert_raise(
            key=f"order.cancel_refused:{order.client_order_id}",
            kind="order.cancel_refused",
            severity=Alert.Severity.WARNING,
            account=order.account,
            message=f"The cancel of {order} was refused; it is still working: {code}: {reason}"[:500],
            data={"client_order_id": str(order.client_order_id), "code": code},
        )
    return order


@transaction.atomic
def order_mark_unknown(
    *, client_order_id: Any, order_id: int | None = None, reason: str, message_id: Any = None
) -> Order | None:
    """Record that the order was sent and no answer came: ``SUBMIT_UNKNOWN``, and raise an alert.

    Only reconciliation with the broker settles it; nothing is re-sent.
    """
    order = order_lock_by_client_id(client_order_id)
    if order is None or message_seen(message_id):
        return order
    fields: set[str] = set()
    if order_id is not None and order.ib_order_id is None:
        order.ib_order_id = int(order_id)
        fields.add("ib_order_id")
    moved = order.status
    order_status_apply(
        order,
        OrderStatus.SUBMIT_UNKNOWN,
        kind=OrderEventKind.UNKNOWN,
        message_id=message_id,
        fields=fields,
        data={"order_id": order_id, "reason": reason},
        detail=reason,
    )
    if moved != order.status:
        alert_raise(
            key=f"order.unknown:{order.client_order_id}",
            kind="order.unknown",
            severity=Alert.Severity.CRITICAL,
            account=order.account,
            message=f"Order {order} was sent and its outcome is unknown: {reason}"[:500],
            data={"client_order_id": str(order.client_order_id), "order_id": order_id},
        )
    return order


# No savepoint of its own (two statements per event): the bridge already wraps each event in
# one, and a failure here still rolls back whatever transaction it runs in.
@transaction.atomic(savepoint=False)
def order_apply_broker_status(
    *,
    client_order_id: Any,
    status: str,
    filled: Decimal | int | str,
    remaining: Decimal | int | str,
    avg_fill_price: Decimal | str | float | None,
    order_id: int | None = None,
    perm_id: int | None = None,
    message_id: Any = None,
    terms: Mapping[str, Any] | None = None,
) -> Order | None:
    """Apply IB's ``orderStatus`` to the order: its state moves forward only, filled only grows.

    ``status`` is IB's word (``Submitted``, ``Filled``…). A backward or unknown word is recorded
    with ``applied=False``; the filled quantity and average price are taken only when the
    broker's filled quantity is above ours. Returns None for an unknown order.

    A pending quantity (``order_modify``) is confirmed here by a status that names a live or
    filled order (``PreSubmitted``, ``Submitted``, ``PendingCancel``, ``Filled``) whose
    ``filled + remaining`` (the quantity the broker works) equals it: it becomes the order's
    quantity, and the prices sent with it are confirmed too. A status still showing the old
    total leaves it pending (not applied yet, or refused: the rejection clears it).

    IB's status carries no prices: a modify of prices or TIF alone is confirmed by a status whose
    ``terms`` (``limit_price``, ``stop_price``, ``tif``: the order as the worker last had it from
    TWS's ``openOrder``, which TWS sends before the status that follows a modify) show every
    value asked. Without ``terms``, or while they show the old values, it stays pending.
    """
    order = order_lock_by_client_id(client_order_id)
    if order is None or message_seen(message_id):
        return order
    filled_qty = Decimal(str(filled or 0))
    fields: set[str] = set()
    if order_id is not None and order.ib_order_id is None:
        order.ib_order_id = int(order_id)
        fields.add("ib_order_id")
    if perm_id and order.perm_id != int(perm_id):
        order.perm_id = int(perm_id)
        fields.add("perm_id")
    if filled_qty > order.filled_quantity:
        order.filled_quantity = filled_qty
        fields.add("filled_quantity")
        if avg_fill_price not in (None, "", 0):
            order.average_fill_price = Decimal(str(avg_fill_price)).quantize(PRICE_STEP)
            fields.add("average_fill_price")
    target = status_from_broker(status, filled_qty, remaining)
    confirmed = _confirm_pending_by_status(order, target, filled_qty, remaining, fields) or _confirm_terms_by_status(
        order, target, terms, fields
    )
    if target is not None and order.broker_status != status and RANK[target] >= RANK[order.status]:
        order.broker_status = str(status)[:32]
        fields.add("broker_status")
    data = {
        "status": status,
        "filled": str(filled),
        "remaining": str(remaining),
        "avg_fill_price": str(avg_fill_price),
        "order_id": order_id,
        "perm_id": perm_id,
    }
    if confirmed:
        data["modify_confirmed"] = confirmed
    if target is None:
        order_save(order, fields)
        order_event_record(
            order=order,
            kind=OrderEventKind.STATUS,
            from_status=order.status,
            to_status=order.status,
            applied=bool(fields),
            message_id=message_id,
            detail=f"unknown broker status {status!r}",
            data=data,
        )
        return order
    order_status_apply(order, target, kind=OrderEventKind.STATUS, message_id=message_id, fields=fields, data=data)
    if confirmed:
        order_modify_outcome_audit(order, action="order.modify_confirmed", changes=confirmed)
    return order


# IB words (as our states) under which filled + remaining is the quantity the broker works.
_CONFIRMING = frozenset(
    {OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCEL_REQUESTED}
)


def _confirm_pending_by_status(
    order: Order, target: OrderStatus | None, filled: Decimal, remaining: Any, fields: set[str]
) -> dict[str, str | None]:
    """Apply the order's pending modify if this broker status confirms it (see ``order_apply_broker_status``)."""
    if target not in _CONFIRMING or order.pending_quantity is None:
        return {}
    try:
        working = filled + Decimal(str(remaining if remaining not in (None, "") else "NaN"))
    except ArithmeticError:
        return {}
    if not working.is_finite() or working != order.pending_quantity:
        return {}
    return order_pending_apply(order, fields)


def _confirm_terms_by_status(
    order: Order, target: OrderStatus | None, terms: Mapping[str, Any] | None, fields: set[str]
) -> dict[str, str | None]:
    """Apply the pending price or TIF modify if the status's ``terms`` show it (``order_apply_broker_status``)."""
    if target not in _CONFIRMING or order.pending_quantity is not None or not order.modify_prior or not terms:
        return {}
    for name in order.modify_prior:
        told, asked = terms.get(name), getattr(order, name, None)
        if told in (None, "") or asked is None:
            return {}
        try:
            same = str(told) == asked if name == "tif" else Decimal(str(told)) == asked
        except ArithmeticError:
            return {}
        if not same:
            return {}
    return order_pending_apply(order, fields)
