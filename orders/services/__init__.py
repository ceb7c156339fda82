"""Every write of the orders app: order entry, cancel and modify, broker events, fills, prices,
positions and risk limits.

Each service is keyword-only and atomic: it locks the rows it changes, checks the transition
table, saves with ``update_fields`` and writes the ``OrderEvent``, the audit row and (when the
worker must act) the outbox row in the same transaction. A refusal raises a domain exception
and leaves no rows. ``actor=None`` means the desk itself (scheduler, monitor, strategy, bridge).
Broker-side services (``order_mark_*``, ``order_apply_broker_status``, ``fill_record``…) are
idempotent: a redelivered message (same ``message_id``), a duplicate ``exec_id`` or a backward
status is recorded (or skipped) and changes nothing.
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from accounts.announce import announce_object
from accounts.command_text import command_text_check
from accounts.exceptions import AccountHalted, DeskHalted
from accounts.models import Alert, BrokerAccount, OutboxMessage, User
from accounts.services import (
    account_lock,
    alert_raise,
    audit_record,
    jsonable,
    kill_switch_hold,
    model_validate,
    outbox_enqueue,
    require_actor,
    save_unique,
)
from orders import duplicates, pnl, risk, validation
from orders.exceptions import (
    FillInvalid,
    InstrumentExists,
    InstrumentInvalid,
    InstrumentUnknown,
    OrderClientIdConflict,
    OrderInvalid,
    OrderModifyEmpty,
    OrderNotCancellable,
    OrderNotModifiable,
    OrderParentInvalid,
    OrderQuantityNotPositive,
    OrderSessionNotRunning,
    OrderTransitionRefused,
    RiskLimitInvalid,
)
from orders.fill_corrections import fill_correct, fill_revisions, lock_key
from orders.models import (
    MONEY,
    PRICE,
    Fill,
    Instrument,
    OcaType,
    Order,
    OrderEvent,
    OrderSource,
    OrderStatus,
    PendingCommission,
    Position,
    PositionLot,
    RiskLimit,
    Side,
)
from orders.policy_fields import POLICY_FIELDS as MONITOR_POLICY_FIELDS
from orders.quantity import check_quantity_increment
from orders.selectors import allowed_symbols, order_entry_exposure, risk_limit_for_account
from orders.services.events import OrderEventKind, order_event_record
from orders.transitions import (
    CANCELLABLE_STATUSES,
    FINAL_STATUSES,
    MODIFIABLE_STATUSES,
    OPEN_STATUSES,
    RANK,
    can_revert_cancel,
    can_transition,
    status_from_broker,
)
from tradeconsole import db
from tradeconsole.exceptions import ApplicationError

ZERO = Decimal("0")
MONEY_STEP = Decimal(1).scaleb(-MONEY["decimal_places"])
PRICE_STEP = Decimal(1).scaleb(-PRICE["decimal_places"])
# IB reports "no realized PnL" (an opening execution) as the largest double.
IB_UNSET_DOUBLE = Decimal("1e300")


# --- small helpers ---------------------------------------------------------------------------


def _text(value: Decimal | None) -> str | None:
    """A decimal as the plain string the streams carry (``100``, ``187.25``), None kept."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def _ns(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def _snapshot(order: Order) -> dict[str, Any]:
    return {
        "status": order.status,
        "quantity": _text(order.quantity),
        "limit_price": _text(order.limit_price),
        "stop_price": _text(order.stop_price),
        "filled_quantity": _text(order.filled_quantity),
        "average_fill_price": _text(order.average_fill_price),
        **({"pending_quantity": _text(order.pending_quantity)} if order.pending_quantity is not None else {}),
    }


def _set_status(order: Order, to_status: str, fields: set[str]) -> None:
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
        _clear_pending(order, fields)


PRICE_FIELDS = ("limit_price", "stop_price")


def _clear_pending(order: Order, fields: set[str]) -> dict[str, str | None]:
    """Forget the unanswered modify of ``order`` (its prices stay); return the quantity that was pending."""
    cleared = {"quantity": _text(order.pending_quantity)} if order.pending_quantity is not None else {}
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


def _apply_pending(order: Order, fields: set[str]) -> dict[str, str | None]:
    """The broker confirmed the modify: the pending quantity becomes the order's; return what was applied.

    The prices sent with it are confirmed too (one placeOrder carries them all).
    """
    applied: dict[str, str | None] = {}
    if order.pending_quantity is not None:
        order.quantity = order.pending_quantity
        fields.add("quantity")
        applied["quantity"] = _text(order.quantity)
    applied.update({name: _text(getattr(order, name)) for name in PRICE_FIELDS if name in order.modify_prior})
    _clear_pending(order, fields)
    return applied


def _restore_prior_prices(order: Order, fields: set[str]) -> dict[str, str | None]:
    """The broker refused the modify: put back the prices it last confirmed; return them."""
    restored: dict[str, str | None] = {}
    for name in PRICE_FIELDS:
        if name in order.modify_prior:
            prior = order.modify_prior[name]
            setattr(order, name, Decimal(prior) if prior is not None else None)
            fields.add(name)
            restored[name] = prior
    return restored


def _audit_modify_outcome(order: Order, *, action: str, changes: dict) -> None:
    audit_record(
        actor=None,
        action=action,
        obj=order,
        account=order.account,
        after={**_snapshot(order), "confirmed": changes},
        via="bridge",
    )


def _save(order: Order, fields: set[str]) -> None:
    # Plain SQL (db.update, the same values and signals as save(update_fields=...)): the bridge
    # saves an order for nearly every broker event, and the ORM's compile of the UPDATE cost more
    # CPU than PostgreSQL spent running it.
    if fields:
        db.update(order, fields | {"updated_at"})


def _lock_order(order: Order) -> Order:
    return Order.objects.select_for_update().select_related("account", "instrument").get(pk=order.pk)


def _lock_order_by_client_id(client_order_id: Any) -> Order | None:
    """Lock and return the order of ``client_order_id``; None when there is none.

    Only the order's row is locked. Its account and instrument load when a service needs them
    (an audit row, an alert): a broker event no longer holds the account against order entry
    (whose INSERT references it) or the instrument against a price update until the bridge
    commits, and the ORM compiles a one-table query for every event.
    """
    try:
        key = uuid.UUID(str(client_order_id))
    except ValueError:
        return None
    # Plain SQL: the bridge locks an order for nearly every event, and the ORM's compile of this
    # one-table query cost more CPU than the rest of the lookup.
    return db.select_one(Order, "client_order_id = %s", [db.prepare(Order, "client_order_id", key)], lock=True)


def _already_seen(message_id: Any) -> bool:
    """Whether an event of the broker message ``message_id`` is recorded (a redelivery)."""
    if message_id is None:
        return False
    table = connection.ops.quote_name(OrderEvent._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE message_id = %s LIMIT 1",
            [db.prepare(OrderEvent, "message_id", uuid.UUID(str(message_id)))],
        )
        return cursor.fetchone() is not None


def _check_desk_open(account: BrokerAccount) -> None:
    # A shared lock, not a plain read: an engage committing while this transaction runs must
    # either wait for it (the order then exists for the engage's cancel_all) or be seen by it.
    if kill_switch_hold():
        raise DeskHalted()
    if not account.trading_enabled:
        reason = f": {account.halted_reason}" if account.halted_reason else ""
        raise AccountHalted(f"Trading is halted on account {account.code}{reason}.", field="account")


def _resolve_instrument(instrument: Instrument | str | int | None) -> Instrument:
    if isinstance(instrument, Instrument) and instrument.pk is not None:
        return instrument
    if isinstance(instrument, str) and instrument:
        # The active one first when a symbol names several (exchanges, currencies); plain SQL,
        # as every order entry by symbol reads it.
        found = db.select_one(Instrument, "symbol = %s", [instrument.upper()], order_by="active DESC, id")
        if found is not None:
            return found
    elif isinstance(instrument, int):
        found = Instrument.objects.filter(pk=instrument).first()
        if found is not None:
            return found
    raise InstrumentUnknown(f"No instrument {instrument!r}.", field="instrument")


def _resolve_account(account: BrokerAccount | str) -> BrokerAccount:
    if isinstance(account, BrokerAccount) and account.pk is not None:
        return account
    found = BrokerAccount.objects.filter(code=str(account)).first()
    if found is None:
        raise OrderInvalid(f"No account {account!r}.", field="account")
    return found


def _unpublished_place(order: Order) -> OutboxMessage | None:
    """Lock and return the order's ``order.place`` outbox row if the relay has not taken it.

    ``skip_locked``: a row the relay is publishing right now counts as sent.
    """
    return (
        OutboxMessage.objects.select_for_update(skip_locked=True)
        .filter(published_at__isnull=True, type="order.place", data__client_order_id=str(order.client_order_id))
        .first()
    )


def order_place_data(order: Order) -> dict[str, Any]:
    """Return the ``order.place`` command of ``order`` as design.md defines it.

    Optional keys whose value is absent (``limit_price``, ``stop_price``,
    ``parent_client_order_id``, ``not_before``) are left out rather than sent as null.
    """
    instrument = order.instrument
    data: dict[str, Any] = {
        "client_order_id": str(order.client_order_id),
        "account": order.account.code,
        "symbol": instrument.symbol,
        "sec_type": instrument.sec_type,
        "exchange": instrument.exchange,
        "currency": instrument.currency,
        "side": order.side,
        "quantity": _text(order.quantity),
        "order_type": order.order_type,
        "limit_price": _text(order.limit_price),
        "stop_price": _text(order.stop_price),
        "tif": order.tif,
        "outside_rth": order.outside_rth,
        "parent_client_order_id": str(order.parent.client_order_id) if order.parent_id else None,
        "oca_group": order.oca_group,
        "oca_type": order.oca_type,
        "not_before": _ns(order.not_before),
        "source": order.source,
        "strategy": order.trading_session.strategy.name if order.trading_session_id else "",
        # Optional keys: the worker's gate checks the quantity against them (whole shares without).
        "min_quantity": _text(instrument.min_quantity),
        "quantity_increment": _text(instrument.quantity_increment),
    }
    return {key: value for key, value in data.items() if value is not None}


# --- order entry -------------------------------------------------------------------------------


def order_submit(
    *,
    actor: User | None,
    account: BrokerAccount | str,
    instrument: Instrument | str,
    side: str,
    quantity: Decimal | int | str,
    order_type: str,
    limit_price: Decimal | str | None = None,
    stop_price: Decimal | str | None = None,
    tif: str = "DAY",
    outside_rth: bool = False,
    parent: Order | None = None,
    oca_group: str = "",
    oca_type: int | None = None,
    not_before: datetime | None = None,
    source: str,
    trading_session=None,
    client_order_id: uuid.UUID | str | None = None,
    confirm_duplicate: bool = False,
    via: str,
) -> Order:
    """Enter a new order: validate it, check the kill switch, the halt and the risk limits, and queue it.

    Writes the order (``NEW``), its ``submitted`` event, an audit row and the ``order.place``
    outbox row in one transaction. A ``client_order_id`` that already names an order of this
    account returns that order unchanged, so a double-posted form creates one order.
    ``actor=None`` is the desk itself (scheduler, monitor, strategy). ``account`` and
    ``instrument`` may be given as objects or as an account code and a symbol.

    Checks, in order: fields (side, type, TIF, source), quantity > 0 and a whole number of the
    instrument's increment (at least its minimum), prices required by the
    type and on the instrument's tick; membership and the ``orders.add_order`` permission; the
    kill switch and the account halt; the instrument active and allowed; maximum quantity and
    notional (a market order is measured at the last price and refused without one); maximum
    position counting working orders on the same side; the price collar around the last
    price; orders per minute; today's realized loss (orders that only reduce a position pass).

    It runs in the caller's transaction when there is one, without a savepoint of its own (two
    statements on every entry): every refusal is raised before anything is written, and leaves
    the caller's transaction usable (the account lock it took is held until that transaction
    ends). A failure after the first write marks the caller's transaction for rollback.

    :raises OrderInvalid, OrderQuantityNotPositive, OrderPriceOffTick, OrderPriceNotPositive,
        OrderLimitPriceRequired, OrderStopPriceRequired, OrderPriceNotAllowed,
        OrderParentInvalid, OrderSessionNotRunning, InstrumentUnknown, CommandTextInvalid: bad input.
    :raises AccountNotMember, PermissionRequired: the actor may not trade this account.
    :raises DeskHalted, AccountHalted: trading is stopped.
    :raises OrderClientIdConflict: the id names an order of another account.
    :raises InstrumentInactive, InstrumentNotAllowed, RiskMaxQuantity, RiskMaxNotional,
        RiskNoReferencePrice, RiskMaxPosition, RiskPriceCollar, RiskRate, RiskDailyLoss:
        a risk limit refuses it.
    :raises OrderPossibleDuplicate: a person (``actor``, source admin or API) entered the same
        order on the account within the limits' ``duplicate_window_seconds`` and did not pass
        ``confirm_duplicate=True`` (``orders.duplicates``); a confirmed one is audited.
    """
    refusal: ApplicationError
    with transaction.atomic(savepoint=False):
        try:
            values = _order_entry_check(
                actor=actor,
                account=account,
                instrument=instrument,
                side=side,
                quantity=quantity,
                order_type=order_type,
                limit_price=limit_price,
                stop_price=stop_price,
                tif=tif,
                outside_rth=outside_rth,
                parent=parent,
                oca_group=oca_group,
                oca_type=oca_type,
                not_before=not_before,
                source=source,
                trading_session=trading_session,
                client_order_id=client_order_id,
                confirm_duplicate=confirm_duplicate,
            )
        except ApplicationError as exc:
            # Raised before any write: leaving the block normally keeps the caller's transaction
            # usable (a savepoint-less block marks it for rollback on any exception).
            refusal = exc
        else:
            return values if isinstance(values, Order) else _order_entry_write(values, actor=actor, via=via)
    raise refusal


def _order_entry_check(
    *,
    actor: User | None,
    account: BrokerAccount | str,
    instrument: Instrument | str,
    side: str,
    quantity: Decimal | int | str,
    order_type: str,
    limit_price: Decimal | str | None = None,
    stop_price: Decimal | str | None = None,
    tif: str = "DAY",
    outside_rth: bool = False,
    parent: Order | None = None,
    oca_group: str = "",
    oca_type: int | None = None,
    not_before: datetime | None = None,
    source: str,
    trading_session=None,
    client_order_id: uuid.UUID | str | None = None,
    confirm_duplicate: bool = False,
) -> Order | dict[str, Any]:
    """Run ``order_submit``'s checks under the account lock; return the existing order of
    ``client_order_id``, or the new order's field values. Writes nothing (but the kill switch's
    row on a new database, created released as ``kill_switch_hold`` does).

    :raises ApplicationError: every refusal ``order_submit`` documents.
    """
    account = _resolve_account(account)
    require_actor(actor, account=account, perm="orders.add_order")
    if client_order_id is not None:
        try:
            client_order_id = uuid.UUID(str(client_order_id))
        except ValueError:
            raise OrderInvalid("client_order_id is not a UUID.", field="client_order_id")
        # Only an id a person or script chose: the monitor re-places an API order under the
        # desk's own derived (version 5) id, keeping the order's source, with no actor.
        if actor is not None and source in (OrderSource.API, OrderSource.ADMIN):
            validation.check_chosen_client_order_id(client_order_id)
        existing = Order.objects.filter(client_order_id=client_order_id).first()
        if existing is not None:
            if existing.account_id != account.pk:
                raise OrderClientIdConflict(field="client_order_id")
            return existing

    validation.check_fields(side=side, order_type=order_type, tif=tif, source=source)
    command_text_check(command="order.place", key="oca_group", value=oca_group or "")
    instrument = _resolve_instrument(instrument)
    quantity = validation.to_decimal(quantity, field="quantity")
    validation.check_quantity(quantity)
    check_quantity_increment(quantity, instrument)
    limit_price = validation.to_decimal(limit_price, field="limit_price")
    stop_price = validation.to_decimal(stop_price, field="stop_price")
    validation.check_prices(order_type, limit_price, stop_price, instrument)
    if parent is not None and (
        parent.account_id != account.pk or parent.instrument_id != instrument.pk or parent.status not in OPEN_STATUSES
    ):
        raise OrderParentInvalid(field="parent")
    if trading_session is not None:
        if trading_session.account_id != account.pk:
            raise OrderInvalid("The trading session runs on another account.", field="trading_session")
        if trading_session.status != "running":
            raise OrderSessionNotRunning(field="trading_session")
    if not_before is not None and timezone.is_naive(not_before):
        raise OrderInvalid("not_before needs a time zone.", field="not_before")

    # One order at a time per account: the counts below (rate, working quantity) cannot race.
    account = account_lock(account.pk)
    if client_order_id is not None:
        # A concurrent post of the same id may have committed while we waited for the lock.
        existing = Order.objects.filter(client_order_id=client_order_id).first()
        if existing is not None:
            if existing.account_id != account.pk:
                raise OrderClientIdConflict(field="client_order_id")
            return existing
    _check_desk_open(account)
    # The limits and every count the checks need in one round trip, read under the account
    # lock; the checks still run one by one in their documented order.
    exposure = order_entry_exposure(account=account, instrument=instrument, side=side)
    limits = exposure.limits
    risk.check_instrument(limits=limits, instrument=instrument, exposure=exposure)
    notional = risk.check_size(
        limits=limits, instrument=instrument, quantity=quantity, limit_price=limit_price, stop_price=stop_price
    )
    current, projected = risk.check_position(
        limits=limits, account=account, instrument=instrument, side=side, quantity=quantity, exposure=exposure
    )
    risk.check_collar(limits=limits, instrument=instrument, limit_price=limit_price, stop_price=stop_price)
    risk.check_rate(limits=limits, account=account, exposure=exposure)
    risk.check_daily_loss(limits=limits, account=account, current=current, projected=projected, exposure=exposure)
    # Last, so a person confirms only an order the desk would take; under the account lock, so
    # two identical entries at once cannot both miss each other.
    duplicate_of = duplicates.duplicate_check(
        actor=actor,
        account=account,
        instrument=instrument,
        side=side,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit_price,
        stop_price=stop_price,
        tif=tif,
        source=source,
        window_seconds=limits.duplicate_window_seconds,
        confirmed=confirm_duplicate,
    )

    status = OrderStatus.PENDING_APPROVAL if risk.needs_approval(limits=limits, notional=notional) else OrderStatus.NEW
    values = {
        "account": account,
        "instrument": instrument,
        "side": side,
        "quantity": quantity,
        "order_type": order_type,
        "limit_price": limit_price,
        "stop_price": stop_price,
        "tif": tif,
        "outside_rth": bool(outside_rth),
        "parent": parent,
        "oca_group": oca_group or "",
        "oca_type": _oca_type(oca_type, oca_group),
        "not_before": not_before,
        "source": source,
        "trading_session": trading_session,
        "status": status,
        "created_by": actor if actor is not None and actor.is_authenticated else None,
    }
    if client_order_id is not None:
        values["client_order_id"] = client_order_id
    if duplicate_of is not None:
        values["duplicate_of"] = duplicate_of
    return values


def _oca_type(oca_type: int | str | None, oca_group: str) -> int | None:
    """The order's OCA type, 1-3 and only with an OCA group (None: TWS's default).

    :raises OrderInvalid: another value, or a type without a group.
    """
    if oca_type in (None, ""):
        return None
    try:
        number = int(oca_type)
    except (TypeError, ValueError):
        number = 0
    if number not in OcaType.values:
        raise OrderInvalid("oca_type must be 1, 2 or 3.", field="oca_type")
    if not oca_group:
        raise OrderInvalid("oca_type needs an oca_group.", field="oca_type")
    return number


def _order_entry_write(values: dict[str, Any], *, actor: User | None, via: str, enqueue: bool = True) -> Order:
    """Write the checked order (``_order_entry_check``'s values), its event, audit and outbox rows.

    ``enqueue=False``: no ``order.place`` (a bracket's members travel in one, ``orders.brackets``).
    """
    duplicate_of = values.pop("duplicate_of", None)
    account, status, client_order_id = values["account"], values["status"], values.get("client_order_id")
    source = values["source"]
    # A savepoint only where a caller's client_order_id can collide (caught below); a fresh
    # uuid4 cannot, and the savepoint would cost two round trips on every entry.
    guard = transaction.atomic() if client_order_id is not None else nullcontext()
    try:
        with guard:
            order = db.insert(Order(**values))
    except IntegrityError:
        # The same client_order_id committed by a concurrent request: that one is the order.
        existing = Order.objects.filter(client_order_id=client_order_id).first() if client_order_id else None
        if existing is None:
            raise
        if existing.account_id != account.pk:
            raise OrderClientIdConflict(field="client_order_id")
        return existing
    order_event_record(
        order=order, kind=OrderEventKind.SUBMITTED, to_status=status, actor=actor, data={"source": source, "via": via}
    )
    audit_record(actor=actor, action="order.submit", obj=order, account=account, after=_snapshot(order), via=via)
    if duplicate_of is not None:
        duplicates.duplicate_confirmed_record(order=order, earlier=duplicate_of, actor=actor, via=via)
    if status == OrderStatus.NEW and enqueue:
        outbox_enqueue(type="order.place", data=order_place_data(order))
    return order


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
    order = _lock_order(order)
    if order.status != OrderStatus.PENDING_APPROVAL:
        raise OrderTransitionRefused("Only an order awaiting approval can be approved.")
    if actor is not None and order.created_by_id == actor.pk:
        raise OrderTransitionRefused("An order must be approved by someone other than the person who entered it.")
    _check_desk_open(account)
    fields: set[str] = set()
    _set_status(order, OrderStatus.NEW, fields)
    _save(order, fields)
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
        after=_snapshot(order),
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
    order = _lock_order(order)
    if order.status != OrderStatus.PENDING_APPROVAL:
        raise OrderTransitionRefused("Only an order awaiting approval can be refused.")
    fields = {"reject_code", "reject_reason"}
    order.reject_code, order.reject_reason = "approval.refused", (reason or "Refused by risk")[:500]
    _set_status(order, OrderStatus.REJECTED, fields)
    _save(order, fields)
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
        after=_snapshot(order),
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
    order = _lock_order(order)
    if order.status == OrderStatus.CANCEL_REQUESTED:
        return order
    if order.status not in CANCELLABLE_STATUSES:
        raise OrderNotCancellable(f"The order is {order.get_status_display().lower()}; it cannot be cancelled.")
    before = _snapshot(order)
    from_status = order.status
    fields: set[str] = set()
    unsent = None
    if order.status == OrderStatus.NEW:
        unsent = _unpublished_place(order)
        if unsent is None and order.parent_id:
            # A bracket's child travels in its parent's order.place: withdrawn only with it.
            from orders import brackets

            brackets.bracket_child_cancel_check(order=order)
    if order.status == OrderStatus.PENDING_APPROVAL or unsent is not None:
        if unsent is not None:
            unsent.delete()
            # The bracket's children were in that command: they are withdrawn with it.
            from orders import brackets

            brackets.bracket_children_withdraw(parent=order, actor=actor, via=via)
        _set_status(order, OrderStatus.CANCELLED, fields)
        kind = OrderEventKind.CANCELLED
    else:
        _set_status(order, OrderStatus.CANCEL_REQUESTED, fields)
        outbox_enqueue(
            type="order.cancel", data={"client_order_id": str(order.client_order_id), "reason": reason[:2000]}
        )
        kind = OrderEventKind.CANCEL_REQUESTED
    _save(order, fields)
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
        after={**_snapshot(order), "reason": reason},
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
    via: str,
) -> Order:
    """Change a working order's quantity or prices, re-checking the fields and the risk limits.

    When the broker has not seen the order yet (awaiting approval, or ``NEW`` with its
    ``order.place`` unpublished) the order changes at once and its queued command is rewritten.
    Otherwise an ``order.modify`` command carries the changed keys and ``modify_requested_at``
    is stamped:

    - a new quantity waits in ``pending_quantity``; ``quantity`` stays what the broker works
      (fills are measured against it) until the broker confirms (``order_apply_broker_status``,
      ``fill_record``);
    - new prices apply at once (IB confirms no price: a price-only modify produces no event),
      and the prices the broker last confirmed are kept in ``modify_prior``;
    - a refusal (``order_mark_command_rejected``) clears the pending quantity and restores
      the prior prices.

    A second modify before the first is answered is measured against the pending quantity;
    ``modify_prior`` keeps the prices from before the first. The status is unchanged.

    :raises OrderModifyEmpty: nothing to change.
    :raises OrderNotModifiable: the order is final, its cancel is requested, or its outcome is unknown.
    :raises OrderQuantityNotPositive: the new quantity is not above what is already filled.
    :raises AccountNotMember, PermissionRequired, DeskHalted, AccountHalted, and the price and
        risk refusals of ``order_submit``.
    """
    require_actor(actor, account=order.account, perm="orders.change_order")
    new_quantity = validation.to_decimal(quantity, field="quantity")
    new_limit = validation.to_decimal(limit_price, field="limit_price")
    new_stop = validation.to_decimal(stop_price, field="stop_price")
    if new_quantity is None and new_limit is None and new_stop is None:
        raise OrderModifyEmpty()
    account = account_lock(order.account_id)
    order = _lock_order(order)
    if order.status not in MODIFIABLE_STATUSES:
        raise OrderNotModifiable(f"The order is {order.get_status_display().lower()}; it cannot be modified.")
    _check_desk_open(account)
    instrument = order.instrument
    # What the order will be once every modify asked so far is confirmed.
    requested = {
        "quantity": order.pending_quantity if order.pending_quantity is not None else order.quantity,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
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
    limits = risk_limit_for_account(account)
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
        account=account,
        instrument=instrument,
        side=order.side,
        quantity=target_quantity - order.filled_quantity,
        exclude_quantity=working,
    )
    risk.check_collar(limits=limits, instrument=instrument, limit_price=new_limit, stop_price=new_stop)
    before = _snapshot(order)
    changes: dict[str, str] = {}
    fields: set[str] = set()
    for name, value in (("quantity", new_quantity), ("limit_price", new_limit), ("stop_price", new_stop)):
        if value is not None and value != requested[name]:
            changes[name] = value
    if not changes:
        return order
    unsent = _unpublished_place(order) if order.status == OrderStatus.NEW else None
    pending = unsent is None and order.status != OrderStatus.PENDING_APPROVAL
    prior = dict(order.modify_prior)
    for name, value in changes.items():
        if pending and name == "quantity":
            # The broker may refuse it: fills keep being measured against what it works now.
            order.pending_quantity = value
            fields.add("pending_quantity")
            continue
        if pending and name not in prior:
            prior[name] = _text(getattr(order, name))
        setattr(order, name, value)
        fields.add(name)
    if pending:
        order.modify_prior = prior
        order.modify_requested_at = timezone.now()
        fields |= {"modify_prior", "modify_requested_at"}
    _save(order, fields)
    changes = {name: _text(value) for name, value in changes.items()}
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
        after=_snapshot(order),
        via=via,
    )
    return order


# --- broker events -----------------------------------------------------------------------------


def _apply_status(
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
        _set_status(order, to_status, fields)
        applied, note = True, detail
    else:
        applied = bool(fields)
        direction = "backward" if RANK.get(to_status, 0) <= RANK[from_status] else "not allowed"
        note = f"{from_status}→{to_status} {direction}: state kept" + (f"; {detail}" if detail else "")
    _save(order, fields)
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
            after=_snapshot(order),
            via="bridge",
        )
    return applied


@transaction.atomic
def order_mark_accepted(*, client_order_id: Any, order_id: int, message_id: Any = None) -> Order | None:
    """Record that the worker placed the order with IB ``order_id``: ``SUBMITTED`` if that is forward.

    Returns None for an unknown order; a redelivered message changes nothing.
    """
    order = _lock_order_by_client_id(client_order_id)
    if order is None or _already_seen(message_id):
        return order
    fields: set[str] = set()
    if order_id is not None and order.ib_order_id != int(order_id):
        order.ib_order_id = int(order_id)
        fields.add("ib_order_id")
    _apply_status(
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
    order = _lock_order_by_client_id(client_order_id)
    if order is None or _already_seen(message_id):
        return order
    fields: set[str] = set()
    if can_transition(order.status, OrderStatus.REJECTED):
        order.reject_code, order.reject_reason = str(code)[:64], str(reason)[:500]
        fields |= {"reject_code", "reject_reason"}
    _apply_status(
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
      code, the reason and what was undone.
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
    order = _lock_order_by_client_id(client_order_id)
    if order is None or _already_seen(message_id):
        return order
    before = _snapshot(order)
    from_status = order.status
    fields: set[str] = set()
    data: dict[str, Any] = {"action": action, "code": code, "reason": reason}
    if action == "modify":
        data["restored"] = _restore_prior_prices(order, fields)
        data["cleared"] = _clear_pending(order, fields)
    elif order.status == OrderStatus.CANCEL_REQUESTED:
        working = _cancel_refused_status(order)
        order.status = working
        fields.add("status")
    _save(order, fields)
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
            after={**_snapshot(order), "code": code, "reason": reason},
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
    order = _lock_order_by_client_id(client_order_id)
    if order is None or _already_seen(message_id):
        return order
    fields: set[str] = set()
    if order_id is not None and order.ib_order_id is None:
        order.ib_order_id = int(order_id)
        fields.add("ib_order_id")
    moved = order.status
    _apply_status(
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
) -> Order | None:
    """Apply IB's ``orderStatus`` to the order: its state moves forward only, filled only grows.

    ``status`` is IB's word (``Submitted``, ``Filled``…). A backward or unknown word is recorded
    with ``applied=False``; the filled quantity and average price are taken only when the
    broker's filled quantity is above ours. Returns None for an unknown order.

    A pending quantity (``order_modify``) is confirmed here by a status that names a live or
    filled order (``PreSubmitted``, ``Submitted``, ``PendingCancel``, ``Filled``) whose
    ``filled + remaining`` (the quantity the broker works) equals it: it becomes the order's
    quantity, and the prices sent with it are confirmed too. A status still showing the old
    total leaves it pending (not applied yet, or refused: the rejection clears it). A
    price-only modify is not confirmed by a status (IB's carries no prices).
    """
    order = _lock_order_by_client_id(client_order_id)
    if order is None or _already_seen(message_id):
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
    confirmed = _confirm_pending_by_status(order, target, filled_qty, remaining, fields)
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
        _save(order, fields)
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
    _apply_status(order, target, kind=OrderEventKind.STATUS, message_id=message_id, fields=fields, data=data)
    if confirmed:
        _audit_modify_outcome(order, action="order.modify_confirmed", changes=confirmed)
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
    return _apply_pending(order, fields)


# --- fills and positions -----------------------------------------------------------------------


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


def _order_fill_totals(order: Order) -> tuple[Decimal, Decimal | None]:
    value = ExpressionWrapper(F("quantity") * F("price"), output_field=DecimalField(max_digits=38, decimal_places=10))
    totals = Fill.objects.filter(order=order).aggregate(total_quantity=Sum("quantity"), total_value=Sum(value))
    quantity = totals["total_quantity"] or ZERO
    average = (totals["total_value"] / quantity).quantize(PRICE_STEP) if quantity else None
    return quantity, average


def _apply_fill_to_order(order: Order, fill: Fill, message_id: Any) -> None:
    """Raise the order's filled quantity to its fills' total and move it to (partially) filled.

    Fills are measured against ``quantity``, what the broker is known to work, never a pending
    one: an order modified 200 → 100 whose modify is not confirmed stays ``PARTIALLY_FILLED``
    after 100 filled (the modify may have been refused and 100 more be live). One inference is
    safe: fills beyond ``quantity`` but within a pending larger quantity prove the broker took
    the increase, so the pending modify is applied.
    """
    order = _lock_order(order)
    quantity, average = _order_fill_totals(order)
    fields: set[str] = set()
    if quantity > order.filled_quantity:
        order.filled_quantity = quantity
        order.average_fill_price = average
        fields |= {"filled_quantity", "average_fill_price"}
    data = {"exec_id": fill.exec_id, "quantity": _text(fill.quantity), "price": _text(fill.price)}
    confirmed: dict[str, str | None] = {}
    if order.pending_quantity is not None and order.quantity < order.filled_quantity <= order.pending_quantity:
        confirmed = _apply_pending(order, fields)
        data["modify_confirmed"] = confirmed
    target = OrderStatus.FILLED if order.filled_quantity >= order.quantity else OrderStatus.PARTIALLY_FILLED
    _apply_status(order, target, kind=OrderEventKind.FILLED, message_id=message_id, fields=fields, data=data)
    if confirmed:
        _audit_modify_outcome(order, action="order.modify_confirmed", changes=confirmed)


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
        _set_commission(fill, early.commission, early.currency, early.realized_pnl)
        early.delete()
    _store_lots(position, before, after, fill)
    position_before = {"quantity": _text(position.quantity), "realized_pnl": _text(position.realized_pnl)}
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
            "quantity": _text(quantity),
            "price": _text(price),
            "position": _text(position.quantity),
            "realized_pnl": _text(realized),
        },
        via="bridge",
    )
    return fill


def _lock_exec_id(exec_id: str) -> None:
    """Serialize the fill and the commission of one execution until the transaction ends.

    Without it a commission stored as pending while its fill is being recorded (neither sees
    the other's uncommitted row) would never be attached. SQLite serializes writers already.
    """
    if connection.vendor == "postgresql":
        with db.cursor() as cursor:
            # On the stem: every revision of one execution (IB's corrections) serializes too.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 413))", [f"exec:{lock_key(exec_id)}"])


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


def _set_commission(fill: Fill, commission: Decimal, currency: str, realized_pnl: Decimal | None) -> None:
    fill.commission, fill.commission_currency, fill.broker_realized_pnl = commission, currency, realized_pnl
    fill.save(update_fields=["commission", "commission_currency", "broker_realized_pnl"])


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
    _set_commission(fill, *values)
    return fill


def instrument_record_price(*, instrument: Instrument, price: Decimal | str | float, at: datetime) -> bool:
    """Store the instrument's last price if ``at`` is newer than the stored one; return whether it did.

    One conditional UPDATE, so concurrent ticks never move the price back in time.
    """
    value = Decimal(str(price))
    if not value.is_finite() or value <= 0:
        return False
    updated = Instrument.objects.filter(
        Q(pk=instrument.pk) & (Q(last_price_at__isnull=True) | Q(last_price_at__lt=at))
    ).update(last_price=value.quantize(PRICE_STEP), last_price_at=at)
    if updated:
        instrument.last_price, instrument.last_price_at = value.quantize(PRICE_STEP), at
        announce_object(instrument)
    return bool(updated)


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


# --- risk limits -------------------------------------------------------------------------------

RISK_LIMIT_FIELDS = (
    "max_order_quantity",
    "max_order_notional",
    "max_position",
    "max_daily_loss",
    "price_collar_pct",
    "orders_per_minute",
)
# The limits the worker does not read: the approval threshold (order entry) and the monitor's
# protection, stale order and retry policies. risk_limit_update changes them like the others.
RISK_POLICY_FIELDS = ("approval_above_notional", "duplicate_window_seconds", *MONITOR_POLICY_FIELDS)


def risk_limits_data(limits: RiskLimit) -> dict[str, Any]:
    """Return the JSON the worker reads at ``{prefix}:risk:limits:{ACCOUNT}``.

    Decimals are strings; ``allowed_symbols`` empty means every instrument.
    """
    return {
        "account": limits.account.code,
        "max_order_quantity": _text(limits.max_order_quantity),
        "max_order_notional": _text(limits.max_order_notional),
        "max_position": _text(limits.max_position),
        "max_daily_loss": _text(limits.max_daily_loss),
        "price_collar_pct": _text(Decimal(limits.price_collar_pct)),
        "orders_per_minute": int(limits.orders_per_minute),
        "allowed_symbols": allowed_symbols(limits),
    }


def risk_limits_publish(*, account: BrokerAccount) -> OutboxMessage:
    """Queue ``account``'s current risk limits for the worker (stream ``risk``, type ``risk.limits``).

    The relay SETs the data at ``{prefix}:risk:limits:{account code}``. An account without a
    ``RiskLimit`` row publishes the model's defaults, which ``order_submit`` also applies.
    """
    return outbox_enqueue(type="risk.limits", stream="risk", data=risk_limits_data(risk_limit_for_account(account)))


def _risk_limit_fields() -> dict[str, Any]:
    """The RiskLimit fields a person may change (every editable column but the account)."""
    return {
        field.name: field
        for field in RiskLimit._meta.concrete_fields
        if field.editable and not field.primary_key and field.name != "account"
    }


def _risk_limit_value(field, raw: Any, limits: RiskLimit) -> Any:
    if raw is None or raw == "":
        if field.null:
            return None
        raise RiskLimitInvalid(f"{field.name} cannot be empty.", field=field.name)
    try:
        value = field.clean(raw, limits)
    except ValidationError as error:
        raise RiskLimitInvalid(f"{field.name}: {' '.join(error.messages)}", field=field.name)
    if isinstance(value, (Decimal, int)) and not isinstance(value, bool) and value < 0:
        raise RiskLimitInvalid(f"{field.name} must be zero or more.", field=field.name)
    return value


@transaction.atomic
def risk_limit_update(*, risk_limit: RiskLimit, actor: User | None, via: str, **changes: Any) -> RiskLimit:
    """Change an account's risk limits and publish them to the worker.

    ``changes`` may name any editable ``RiskLimit`` field (limits are numbers of zero or more;
    nullable ones accept None or "" for "none") and ``allowed_instruments`` (instruments or
    symbols; empty allows every instrument). A ``risk_limit`` not yet saved is created for its
    account. Every change is audited and the new limits are queued for the worker; an update
    that changes nothing writes no audit row but queues the limits again (the worker may have
    lost them, e.g. a new Redis).

    :raises RiskLimitInvalid: an unknown field or a bad value.
    :raises AccountNotMember, PermissionRequired: the actor may not change this account's limits.
    """
    account = risk_limit.account
    require_actor(actor, account=account, perm="orders.change_risklimit")
    editable = _risk_limit_fields()
    unknown = sorted(set(changes) - set(editable) - {"allowed_instruments"})
    if unknown:
        raise RiskLimitInvalid(f"Unknown risk limit field {unknown[0]!r}.", field=unknown[0])
    limits, created = RiskLimit.objects.get_or_create(account=account)
    limits = RiskLimit.objects.select_for_update().select_related("account").get(pk=limits.pk)
    before = {**risk_limits_data(limits), **_policy_data(limits)}
    fields = []
    for name, raw in changes.items():
        if name == "allowed_instruments":
            continue
        value = _risk_limit_value(editable[name], raw, limits)
        if value != getattr(limits, name):
            setattr(limits, name, value)
            fields.append(name)
    if fields:
        limits.save(update_fields=[*fields, "updated_at"])
    if "allowed_instruments" in changes:
        limits.allowed_instruments.set([_resolve_instrument(item) for item in changes["allowed_instruments"] or []])
    after = {**risk_limits_data(limits), **_policy_data(limits)}
    if created or after != before:
        audit_record(
            actor=actor, action="risk_limit.update", obj=limits, account=account, before=before, after=after, via=via
        )
    risk_limits_publish(account=account)
    return limits


def _policy_data(limits: RiskLimit) -> dict[str, Any]:
    """The RiskLimit fields the worker does not read (approval, monitoring policies), for the audit row."""
    published = set(RISK_LIMIT_FIELDS)
    return {
        name: getattr(limits, name) for name in _risk_limit_fields() if name not in published and name != "updated_at"
    }


# --- instruments ---------------------------------------------------------------------------------

INSTRUMENT_EDITABLE = (
    "symbol",
    "sec_type",
    "exchange",
    "primary_exchange",
    "currency",
    "con_id",
    "min_tick",
    "multiplier",
    "min_quantity",
    "quantity_increment",
    "description",
    "active",
)


def _instrument_snapshot(instrument: Instrument) -> dict[str, Any]:
    # The tick normalised, so 0.01 and the column's 0.010000 compare (and read) as the same.
    steps = {name: _text(getattr(instrument, name)) for name in ("min_tick", "min_quantity", "quantity_increment")}
    return jsonable({**{name: getattr(instrument, name) for name in INSTRUMENT_EDITABLE}, **steps})


def _instrument_number(value: Any, kind: type, *, field: str) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InstrumentInvalid(f"{field} is not a number.", field=field)
    try:
        return kind(str(value))
    except (ValueError, ArithmeticError):
        raise InstrumentInvalid(f"{field} is not a number: {value!r}.", field=field) from None


def _instrument_clean(instrument: Instrument) -> None:
    """Normalise codes to upper case and check every field; the model's rules have the last word."""
    for name in ("symbol", "sec_type", "exchange", "primary_exchange", "currency"):
        setattr(instrument, name, (getattr(instrument, name) or "").strip().upper())
    if not instrument.symbol:
        raise InstrumentInvalid("The instrument needs a symbol.", field="symbol")
    if len(instrument.currency) != 3 or not instrument.currency.isalpha():
        raise InstrumentInvalid("The currency is a three-letter code, such as USD.", field="currency")
    instrument.min_tick = _instrument_number(instrument.min_tick, Decimal, field="min_tick")
    if instrument.min_tick is None or not instrument.min_tick.is_finite() or instrument.min_tick <= 0:
        raise InstrumentInvalid("The minimum tick must be greater than zero.", field="min_tick")
    for name, what in (("min_quantity", "minimum quantity"), ("quantity_increment", "quantity increment")):
        value = _instrument_number(getattr(instrument, name), Decimal, field=name)
        if value is None or not value.is_finite() or value <= 0:
            raise InstrumentInvalid(f"The {what} must be greater than zero.", field=name)
        setattr(instrument, name, value)
    instrument.con_id = _instrument_number(instrument.con_id, int, field="con_id")
    if instrument.con_id is not None and instrument.con_id <= 0:
        raise InstrumentInvalid("An IB contract id is a positive number.", field="con_id")
    instrument.multiplier = _instrument_number(instrument.multiplier, int, field="multiplier")
    if instrument.multiplier is None or instrument.multiplier < 1:
        raise InstrumentInvalid("The multiplier is 1 or more.", field="multiplier")
    model_validate(instrument, invalid=InstrumentInvalid, taken=InstrumentExists)
    for name in ("symbol", "sec_type", "exchange", "currency"):
        # These travel in every order.place of the instrument.
        command_text_check(command="order.place", key=name, value=getattr(instrument, name))


@transaction.atomic
def instrument_create(
    *,
    actor: User | None,
    symbol: str,
    sec_type: str = "STK",
    exchange: str = "SMART",
    primary_exchange: str = "",
    currency: str = "USD",
    con_id: int | None = None,
    min_tick: Decimal | str = Decimal("0.01"),
    multiplier: int = 1,
    min_quantity: Decimal | str = Decimal("1"),
    quantity_increment: Decimal | str = Decimal("1"),
    description: str = "",
    active: bool = True,
    via: str,
) -> Instrument:
    """Add a contract the desk may trade; codes are stored in upper case.

    :raises PermissionRequired: ``actor`` may not add instruments.
    :raises InstrumentInvalid: no symbol, a currency that is not three letters, a tick, minimum
        quantity or quantity increment that is not a positive number, a multiplier below 1, a
        bad contract id.
    :raises InstrumentExists: the same symbol, type, exchange and currency, or the same contract id.
    """
    require_actor(actor, perm="orders.add_instrument")
    instrument = Instrument(
        symbol=symbol,
        sec_type=sec_type,
        exchange=exchange,
        primary_exchange=primary_exchange,
        currency=currency,
        con_id=con_id,
        min_tick=min_tick,
        multiplier=multiplier,
        min_quantity=min_quantity,
        quantity_increment=quantity_increment,
        description=(description or "").strip(),
        active=bool(active),
    )
    _instrument_clean(instrument)
    save_unique(instrument, taken=InstrumentExists)
    audit_record(
        actor=actor, action="instrument.create", obj=instrument, after=_instrument_snapshot(instrument), via=via
    )
    return instrument


@transaction.atomic
def instrument_update(*, instrument: Instrument, actor: User | None, via: str, **changes: Any) -> Instrument:
    """Change fields of an instrument (see ``INSTRUMENT_EDITABLE``); ``active=False`` retires it.

    A retired instrument refuses new orders (``instrument.inactive``); its orders, fills and
    positions keep pointing at it. A new symbol republishes the risk limits that allow the
    instrument by name. Nothing changed writes nothing.

    :raises TypeError: a field outside ``INSTRUMENT_EDITABLE`` (the reference price moves
        only with market data).
    :raises PermissionRequired: ``actor`` may not change instruments.
    :raises InstrumentInvalid, InstrumentExists: as ``instrument_create``.
    """
    unknown = sorted(set(changes) - set(INSTRUMENT_EDITABLE))
    if unknown:
        raise TypeError(f"unknown instrument fields: {unknown}")
    require_actor(actor, perm="orders.change_instrument")
    instrument = Instrument.objects.select_for_update().get(pk=instrument.pk)
    before = _instrument_snapshot(instrument)
    for name, value in changes.items():
        setattr(instrument, name, value)
    _instrument_clean(instrument)
    after = _instrument_snapshot(instrument)
    changed = [name for name in INSTRUMENT_EDITABLE if after[name] != before[name]]
    if not changed:
        return instrument
    save_unique(instrument, taken=InstrumentExists, update_fields=changed)
    action = "instrument.deactivate" if changed == ["active"] and not instrument.active else "instrument.update"
    audit_record(
        actor=actor,
        action=action,
        obj=instrument,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
        via=via,
    )
    if "symbol" in changed:
        for limits in RiskLimit.objects.filter(allowed_instruments=instrument).select_related("account"):
            risk_limits_publish(account=limits.account)
    return instrument
