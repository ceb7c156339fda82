"""Order entry: ``order_submit`` and the checks every new order passes (fields, kill switch,
halts, risk limits, duplicates).
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.command_text import command_text_check
from accounts.models import BrokerAccount, User
from accounts.services import (
    account_lock,
    audit_record,
    outbox_enqueue,
    require_actor,
)
from orders import risk, sql, validation
from orders.exceptions import (
    OrderClientIdConflict,
    OrderInvalid,
    OrderParentInvalid,
    OrderSessionNotRunning,
)
from orders.models import (
    Instrument,
    OcaType,
    Order,
    OrderSource,
    OrderStatus,
)
from orders.selectors import order_entry_exposure
from orders.services import duplicates
from orders.services.common import (
    account_resolve,
    desk_open_check,
    instrument_resolve,
    order_place_data,
    order_snapshot,
)
from orders.services.events import OrderEventKind, order_event_record
from orders.services.quantity import check_quantity_increment
from orders.transitions import (
    OPEN_STATUSES,
)
from tradeconsole import db
from tradeconsole.exceptions import ApplicationError


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
    closes_session: bool = False,
    client_order_id: uuid.UUID | str | None = None,
    confirm_duplicate: bool = False,
    reduce_only: bool = False,
    past_kill_switch: bool = False,
    via: str,
) -> Order:
    """Enter a new order: validate it, check the kill switch, the halt and the risk limits, and queue it.

    Writes the order (``NEW``), its ``submitted`` event, an audit row and the ``order.place``
    outbox row in one transaction. A ``client_order_id`` that already names an order of this
    account returns that order unchanged, so a double-posted form creates one order.
    ``actor=None`` is the desk itself (scheduler, monitor, strategy). ``account`` and
    ``instrument`` may be given as objects or as an account code and a symbol. An order of a
    ``trading_session`` needs the session running, but for ``closes_session=True``: the order
    that flattens a session as it stops (``strategies.services``). ``reduce_only=True`` refuses
    an order that is not on the side closing the account's book position or is larger than it
    (a flatten, ``orders.services.flatten``); ``past_kill_switch=True`` lets such an order pass an
    engaged kill switch, for the kill switch's "cancel and flatten" only (refused without
    ``reduce_only``).

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
    :raises OrderNotReducing: ``reduce_only`` and the order would not only reduce the position.
    :raises InstrumentInactive, InstrumentNotAllowed, RiskMaxQuantity, RiskMaxNotional,
        RiskNoReferencePrice, RiskMaxPosition, RiskPriceCollar, RiskRate, RiskDailyLoss:
        a risk limit refuses it.
    :raises OrderPossibleDuplicate: a person (``actor``, source admin or API) entered the same
        order on the account within the limits' ``duplicate_window_seconds`` and did not pass
        ``confirm_duplicate=True`` (``orders.services.duplicates``); a confirmed one is audited.
    """
    refusal: ApplicationError
    with transaction.atomic(savepoint=False):
        try:
            values = order_entry_check(
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
                closes_session=closes_session,
                client_order_id=client_order_id,
                confirm_duplicate=confirm_duplicate,
                reduce_only=reduce_only,
                past_kill_switch=past_kill_switch,
            )
        except ApplicationError as exc:
            # Raised before any write: leaving the block normally keeps the caller's transaction
            # usable (a savepoint-less block marks it for rollback on any exception).
            refusal = exc
        else:
            return values if isinstance(values, Order) else order_entry_write(values, actor=actor, via=via)
    raise refusal


def order_entry_check(
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
    closes_session: bool = False,
    client_order_id: uuid.UUID | str | None = None,
    confirm_duplicate: bool = False,
    reduce_only: bool = False,
    past_kill_switch: bool = False,
) -> Order | dict[str, Any]:
    """Run ``order_submit``'s checks under the account lock; return the existing order of
    ``client_order_id``, or the new order's field values. Writes nothing (but the kill switch's
    row on a new database, created released as ``kill_switch_hold`` does).

    :raises ApplicationError: every refusal ``order_submit`` documents.
    """
    account = account_resolve(account)
    require_actor(actor, account=account, perm="orders.add_order")
    if client_order_id is not None:
        try:
            client_order_id = uuid.UUID(str(client_order_id))
        except ValueError:
            raise OrderInvalid("client_order_id is not a UUID.", field="client_order_id")
        # Only an id a person or script chose: the monitor re-places an API order under the
        # desk's own derived (version 5) id, keeping the order's source, with no actor; a
        # flatten (reduce-only) derives its id from the position and the flatten's id.
        if actor is not None and source in (OrderSource.API, OrderSource.ADMIN) and not reduce_only:
            validation.check_chosen_client_order_id(client_order_id)
        existing = sql.order_by_client_id(client_order_id)
        if existing is not None:
            if existing.account_id != account.pk:
                raise OrderClientIdConflict(field="client_order_id")
            return existing

    validation.check_fields(side=side, order_type=order_type, tif=tif, source=source)
    command_text_check(command="order.place", key="oca_group", value=oca_group or "")
    instrument = instrument_resolve(instrument)
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
        # The order that closes a session being stopped (``closes_session``) goes even from a
        # paused one: it is the desk's exit, not the strategy's decision.
        if trading_session.status != "running" and not closes_session:
            raise OrderSessionNotRunning(field="trading_session")
    if past_kill_switch and not reduce_only:
        raise OrderInvalid("Only a reduce-only flatten may pass the kill switch.", field="past_kill_switch")
    if not_before is not None and timezone.is_naive(not_before):
        raise OrderInvalid("not_before needs a time zone.", field="not_before")

    # One order at a time per account: the counts below (rate, working quantity) cannot race.
    account = account_lock(account.pk)
    if client_order_id is not None:
        # A concurrent post of the same id may have committed while we waited for the lock.
        existing = sql.order_by_client_id(client_order_id)
        if existing is not None:
            if existing.account_id != account.pk:
                raise OrderClientIdConflict(field="client_order_id")
            return existing
    desk_open_check(account, past_kill_switch=past_kill_switch)
    # The limits and every count the checks need in one round trip, read under the account
    # lock; the checks still run one by one in their documented order.
    exposure = order_entry_exposure(account=account, instrument=instrument, side=side)
    limits = exposure.limits
    if reduce_only:
        risk.check_reduce_only(side=side, quantity=quantity, exposure=exposure)
    risk.check_instrument(limits=limits, instrument=instrument, exposure=exposure)
    notional = risk.check_size(
        limits=limits, instrument=instrument, quantity=quantity, limit_price=limit_price, stop_price=stop_price
    )
    current, projected = risk.check_position(limits=limits, side=side, quantity=quantity, exposure=exposure)
    risk.check_collar(limits=limits, instrument=instrument, limit_price=limit_price, stop_price=stop_price)
    risk.check_rate(limits=limits, exposure=exposure)
    risk.check_daily_loss(limits=limits, current=current, projected=projected, exposure=exposure)
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
    if past_kill_switch:
        # Not a column: the command tells the worker's halt checks (execution_worker) to let it by.
        values["past_kill_switch"] = True
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


def order_entry_write(values: dict[str, Any], *, actor: User | None, via: str, enqueue: bool = True) -> Order:
    """Write the checked order (``order_entry_check``'s values), its event, audit and outbox rows.

    ``enqueue=False``: no ``order.place`` (a bracket's members travel in one, ``orders.services.brackets``).
    """
    duplicate_of = values.pop("duplicate_of", None)
    past_kill_switch = values.pop("past_kill_switch", False)
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
    audit_record(actor=actor, action="order.submit", obj=order, account=account, after=order_snapshot(order), via=via)
    if duplicate_of is not None:
        duplicates.duplicate_confirmed_record(order=order, earlier=duplicate_of, actor=actor, via=via)
    if status == OrderStatus.NEW and enqueue:
        data = order_place_data(order)
        if past_kill_switch:
            data["past_kill_switch"] = True
        outbox_enqueue(type="order.place", data=data)
    return order
