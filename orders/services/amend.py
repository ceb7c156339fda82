"""Changing an order after entry: approve or refuse it, cancel it, modify its quantity, prices or TIF."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.command_text import command_text_check
from accounts.models import User
from accounts.services import (
    account_lock,
    audit_record,
    outbox_enqueue,
    require_actor,
)
from orders import risk, validation
from orders.exceptions import (
    OrderModifyEmpty,
    OrderNotCancellable,
    OrderNotModifiable,
    OrderQuantityNotPositive,
    OrderTifNotModifiable,
    OrderTransitionRefused,
)
from orders.models import (
    Order,
    OrderStatus,
    TimeInForce,
)
from orders.selectors import order_entry_exposure
from orders.services import brackets
from orders.services.common import (
    ZERO,
    decimal_text,
    desk_open_check,
    order_lock,
    order_place_data,
    order_snapshot,
    unpublished_place,
)
from orders.services.events import OrderEventKind, order_event_record
from orders.services.quantity import check_quantity_increment
from orders.services.states import order_save, order_status_set
from orders.transitions import (
    CANCELLABLE_STATUSES,
    MODIFIABLE_STATUSES,
    OPEN_STATUSES,
)


@transaction.atomic
def order_approve(*, order: Order, actor: User | None, via: str) -> Order:
    """Approve an order awaiting approval: it becomes ``NEW`` and its ``order.place`` is queued.

    Four eyes: the person who entered the order cannot approve it. The kill switch and the
    account halt are checked again; the risk limits were checked at entry.

    :raises AccountNotMember, PermissionRequired: the actor may not approve orders of this account.
    :raises OrderTransitionRefused: the order is not awaiting approval, or the actor entered it.
    :raises DeskHalted, AccountHalted: trading is stopped.
    """
    require_actor(actor, account=order.account, perm="orders.approve_order")
    account = account_lock(order.account_id)
    order = order_lock(order)
    if order.status != OrderStatus.PENDING_APPROVAL:
        raise OrderTransitionRefused("Only an order awaiting approval can be approved.")
    if actor is not None and order.created_by_id == actor.pk:
        raise OrderTransitionRefused("An order must be approved by someone other than the person who entered it.")
    desk_open_check(account)
    fields: set[str] = set()
    order_status_set(order, OrderStatus.NEW, fields)
    order_save(order, fields)
    order_event_record(
        order=order,
        kind=OrderEventKind.APPROVED,
        from_status=OrderStatus.PENDING_APPROVAL,
        to_status=OrderStatus.NEW,
        actor=actor,
        data={"via": via},
    )
    audit_record(
        actor=actor,
        action="order.approve",
        obj=order,
        account=account,
        before={"status": OrderStatus.PENDING_APPROVAL},
        after=order_snapshot(order),
        via=via,
    )
    outbox_enqueue(type="order.place", data=order_place_data(order))
    return order


@transaction.atomic
def order_approval_refuse(*, order: Order, actor: User | None, reason: str, via: str) -> Order:
    """Refuse an order awaiting approval: ``REJECTED`` with code ``approval.refused``; nothing is sent.

    :raises AccountNotMember, PermissionRequired: the actor may not approve orders of this account.
    :raises OrderTransitionRefused: the order is not awaiting approval.
    """
    require_actor(actor, account=order.account, perm="orders.approve_order")
    order = order_lock(order)
    if order.status != OrderStatus.PENDING_APPROVAL:
        raise OrderTransitionRefused("Only an order awaiting approval can be refused.")
    fields = {"reject_code", "reject_reason"}
    order.reject_code, order.reject_reason = "approval.refused", (reason or "Refused by risk")[:500]
    order_status_set(order, OrderStatus.REJECTED, fields)
    order_save(order, fields)
    order_event_record(
        order=order,
        kind=OrderEventKind.APPROVAL_REFUSED,
        from_status=OrderStatus.PENDING_APPROVAL,
        to_status=OrderStatus.REJECTED,
        actor=actor,
        detail=reason,
        data={"via": via},
    )
    audit_record(
        actor=actor,
        action="order.approval_refuse",
        obj=order,
        account=order.account,
        before={"status": OrderStatus.PENDING_APPROVAL},
        after=order_snapshot(order),
        via=via,
    )
    return order


@transaction.atomic
def order_cancel(*, order: Order, actor: User | None, reason: str = "", via: str) -> Order:
    """Cancel an order: locally when the broker never saw it, else ask the worker (``order.cancel``).

    An order awaiting approval, or ``NEW`` whose ``order.place`` the relay has not published,
    becomes ``CANCELLED`` at once and its command is withdrawn. A working order becomes
    ``CANCEL_REQUESTED``; the broker's answer settles it. Cancelling an order whose cancel is
    already requested changes nothing.

    :raises CommandTextInvalid: the worker could not carry ``reason`` (a control character).
    :raises AccountNotMember, PermissionRequired: the actor may not change this account's orders.
    :raises OrderNotCancellable: the order is final.
    """
    command_text_check(command="order.cancel", key="reason", value=reason)
    require_actor(actor, account=order.account, perm="orders.change_order")
    order = order_lock(order)
    if order.status == OrderStatus.CANCEL_REQUESTED:
        return order
    if order.status not in CANCELLABLE_STATUSES:
        raise OrderNotCancellable(f"The order is {order.get_status_display().lower()}; it cannot be cancelled.")
    before = order_snapshot(order)
    from_status = order.status
    fields: set[str] = set()
    unsent = None
    if order.status == OrderStatus.NEW:
        unsent = unpublished_place(order)
        if unsent is None and order.parent_id:
            # A bracket's child travels in its parent's order.place: withdrawn only with it.
            brackets.bracket_child_cancel_check(order=order)
    if order.status == OrderStatus.PENDING_APPROVAL or unsent is not None:
        if unsent is not None:
            unsent.delete()
            # The bracket's children were in that command: they are withdrawn with it.
            brackets.bracket_children_withdraw(parent=order, actor=actor, via=via)
        order_status_set(order, OrderStatus.CANCELLED, fields)
        kind = OrderEventKind.CANCELLED
    else:
        order_status_set(order, OrderStatus.CANCEL_REQUESTED, fields)
        outbox_enqueue(
            type="order.cancel", data={"client_order_id": str(order.client_order_id), "reason": reason[:2000]}
        )
        kind = OrderEventKind.CANCEL_REQUESTED
    order_save(order, fields)
    order_event_record(
        order=order,
        kind=kind,
        from_status=from_status,
        to_status=order.status,
        actor=actor,
        detail=reason,
        data={"via": via},
    )
    audit_record(
        actor=actor,
        action="order.cancel",
        obj=order,
        account=order.account,
        before=before,
        after={**order_snapshot(order), "reason": reason},
        via=via,
    )
    return order


@transaction.atomic
def order_modify(
    *,
    order: Order,
    actor: User | None,
    quantity: Decimal | int | str | None = None,
    limit_price: Decimal | str | None = None,
    stop_price: Decimal | str | None = None,
    tif: str | None = None,
    via: str,
) -> Order:
    """Change a working order's quantity, prices or time in force, re-checking the fields and the risk limits.

    When the broker has not seen the order yet (awaiting approval, or ``NEW`` with its
    ``order.place`` unpublished) the order changes at once and its queued command is rewritten.
    Otherwise an ``order.modify`` command carries the changed keys and ``modify_requested_at``
    is stamped:

    - a new quantity waits in ``pending_quantity``; ``quantity`` stays what the broker works
      (fills are measured against it) until the broker confirms (``order_apply_broker_status``,
      ``fill_record``);
    - new prices and a new TIF apply at once, and the values the broker last confirmed are kept
      in ``modify_prior`` until a status shows the broker works the new ones
      (``order_apply_broker_status``'s ``terms``);
    - a refusal (``order_mark_command_rejected``) clears the pending quantity and restores
      the prior prices.

    A second modify before the first is answered is measured against the pending quantity;
    ``modify_prior`` keeps the prices from before the first. The status is unchanged.

    A working order's TIF moves only between ``DAY`` and ``GTC``: ``IOC`` is an entry instruction
    (fill now or cancel), which a resting order cannot become nor stop being.

    :raises OrderModifyEmpty: nothing to change.
    :raises OrderInvalid: ``tif`` is not one of the desk's TIFs.
    :raises OrderTifNotModifiable: the change would make the order IOC or take it from IOC.
    :raises OrderNotModifiable: the order is final, its cancel is requested, or its outcome is unknown.
    :raises OrderQuantityNotPositive: the new quantity is not above what is already filled.
    :raises AccountNotMember, PermissionRequired, DeskHalted, AccountHalted, and the price and
        risk refusals of ``order_submit``.
    """
    require_actor(actor, account=order.account, perm="orders.change_order")
    new_quantity = validation.to_decimal(quantity, field="quantity")
    new_limit = validation.to_decimal(limit_price, field="limit_price")
    new_stop = validation.to_decimal(stop_price, field="stop_price")
    new_tif = validation.check_choice(tif, TimeInForce.values, field="tif") if tif not in (None, "") else None
    if new_quantity is None and new_limit is None and new_stop is None and new_tif is None:
        raise OrderModifyEmpty()
    account = account_lock(order.account_id)
    order = order_lock(order)
    if order.status not in MODIFIABLE_STATUSES:
        raise OrderNotModifiable(f"The order is {order.get_status_display().lower()}; it cannot be modified.")
    desk_open_check(account)
    if new_tif is not None and new_tif != order.tif and TimeInForce.IOC in (new_tif, order.tif):
        raise OrderTifNotModifiable(field="tif")
    instrument = order.instrument
    # What the order will be once every modify asked so far is confirmed.
    requested = {
        "quantity": order.pending_quantity if order.pending_quantity is not None else order.quantity,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "tif": order.tif,
    }
    target_quantity = new_quantity if new_quantity is not None else requested["quantity"]
    target_limit = new_limit if new_limit is not None else requested["limit_price"]
    target_stop = new_stop if new_stop is not None else requested["stop_price"]
    validation.check_quantity(target_quantity)
    if new_quantity is not None:
        check_quantity_increment(new_quantity, instrument)
    if target_quantity <= order.filled_quantity:
        raise OrderQuantityNotPositive(
            f"The new quantity must be above the {order.filled_quantity.normalize():f} already filled.",
            field="quantity",
        )
    validation.check_prices(order.order_type, target_limit, target_stop, instrument)
    # The limits and the counts in the statement order entry reads: each risk rule is written once.
    exposure = order_entry_exposure(account=account, instrument=instrument, side=order.side)
    limits = exposure.limits
    risk.check_size(
        limits=limits,
        instrument=instrument,
        quantity=target_quantity,
        limit_price=target_limit,
        stop_price=target_stop,
    )
    working = order.remaining_quantity if order.status in OPEN_STATUSES else ZERO
    risk.check_position(
        limits=limits,
        side=order.side,
        quantity=target_quantity - order.filled_quantity,
        exclude_quantity=working,
        exposure=exposure,
    )
    risk.check_collar(limits=limits, instrument=instrument, limit_price=new_limit, stop_price=new_stop)
    # The TIF is a modifiable term here, so the modify's audit row keeps it too.
    before = {**order_snapshot(order), "tif": order.tif}
    changes: dict[str, Decimal | str] = {}
    fields: set[str] = set()
    for name, value in (
        ("quantity", new_quantity),
        ("limit_price", new_limit),
        ("stop_price", new_stop),
        ("tif", new_tif),
    ):
        if value is not None and value != requested[name]:
            changes[name] = value
    if not changes:
        return order
    if order.modify_refusal:
        # A new modify: the refusal of the last one is no longer the order's news.
        order.modify_refusal = ""
        fields.add("modify_refusal")
    unsent = unpublished_place(order) if order.status == OrderStatus.NEW else None
    pending = unsent is None and order.status != OrderStatus.PENDING_APPROVAL
    prior = dict(order.modify_prior)
    for name, value in changes.items():
        if pending and name == "quantity":
            # The broker may refuse it: fills keep being measured against what it works now.
            order.pending_quantity = value
            fields.add("pending_quantity")
            continue
        if pending and name not in prior:
            prior[name] = order.tif if name == "tif" else decimal_text(getattr(order, name))
        setattr(order, name, value)
        fields.add(name)
    if pending:
        order.modify_prior = prior
        order.modify_requested_at = timezone.now()
        fields |= {"modify_prior", "modify_requested_at"}
    order_save(order, fields)
    changes = {name: value if name == "tif" else decimal_text(value) for name, value in changes.items()}
    if unsent is not None:
        unsent.data = order_place_data(order)
        unsent.save(update_fields=["data"])
    elif pending:
        outbox_enqueue(type="order.modify", data={"client_order_id": str(order.client_order_id), **changes})
    order_event_record(
        order=order,
        kind=OrderEventKind.MODIFY_REQUESTED,
        from_status=order.status,
        to_status=order.status,
        actor=actor,
        data={**changes, "pending": pending, "via": via},
    )
    audit_record(
        actor=actor,
        action="order.modify",
        obj=order,
        account=account,
        before=before,
        after={**order_snapshot(order), "tif": order.tif},
        via=via,
    )
    return order
