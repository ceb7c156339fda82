"""Flatten: close a position, an account's positions or the whole desk's through the normal order path.

Each flatten is one audited action (``position.flatten``, ``account.flatten``, ``desk.flatten``)
carrying the person's reason and the flatten's id. For every open position it cancels the
working orders of that account and instrument (an exit beside a working order could overshoot)
and enters one reduce-only order of the position's size on the closing side, market or limit at
the quote. The order's ``client_order_id`` is derived from the position and the flatten's id, so
a confirmation posted twice (a double click) enters one order.

The kill switch blocks new orders; its "cancel and flatten" mode (``kill_switch_cancel_and_flatten``)
engages it, cancelling every working order, and flattens the desk in the same transaction: those
orders alone pass the engaged switch (``order_submit``'s ``past_kill_switch``, reduce-only).
A fill the broker reports after a cancel that was too late is not closed here: the position
shows it and can be flattened again.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db import transaction

from accounts.models import BrokerAccount, KillSwitch, User
from accounts.services import audit_record, kill_switch_engage, require_actor
from orders.exceptions import OrderInvalid, PositionFlat
from orders.models import Order, OrderSource, OrderType, Position, Side
from orders.quotes import touch_price
from orders.services.amend import order_cancel
from orders.services.entry import order_submit
from orders.transitions import CANCELLABLE_STATUSES
from tradeconsole.exceptions import ApplicationError

FLATTEN_NAMESPACE = uuid.UUID("5d0c8f3e-2b1a-4e07-9c56-7a1f0e9b4d21")
FLATTEN_ORDER_TYPES = (OrderType.MARKET, OrderType.LIMIT)


@dataclass
class FlattenOutcome:
    """What one flatten did: the orders entered, the orders cancelled, the positions refused (code, detail)."""

    flatten_id: uuid.UUID
    orders: list[Order] = field(default_factory=list)
    cancelled: list[Order] = field(default_factory=list)
    refused: list[dict] = field(default_factory=list)

    def data(self) -> dict:
        return {
            "flatten_id": str(self.flatten_id),
            "orders": [str(o.client_order_id) for o in self.orders],
            "cancelled": [str(o.client_order_id) for o in self.cancelled],
            "refused": self.refused,
        }


def flatten_client_order_id(position: Position, flatten_id: uuid.UUID | str) -> uuid.UUID:
    """The ``client_order_id`` of the order closing ``position`` in the flatten ``flatten_id``: one per pair."""
    return uuid.uuid5(FLATTEN_NAMESPACE, f"position:{position.pk}:flatten:{flatten_id}")


def flatten_limit_price(position: Position, side: str) -> Decimal:
    """The limit of a flatten at the quote: the ask to buy, the bid to sell (else the last price), on the tick.

    Rounded toward the market (up to buy, down to sell) so the order stays marketable.

    :raises OrderInvalid: no quote and no last price.
    """
    instrument = position.instrument
    price = touch_price(instrument, side)
    if price is None or price <= 0:
        raise OrderInvalid(f"{instrument.symbol} has no quote and no last price to flatten at.", field="order_type")
    ticks = (Decimal(price) / instrument.min_tick).quantize(
        Decimal("1"), rounding=ROUND_CEILING if side == Side.BUY else ROUND_FLOOR
    )
    return ticks * instrument.min_tick


def _order_type(order_type: str) -> str:
    if order_type not in FLATTEN_ORDER_TYPES:
        raise OrderInvalid("A flatten is a market (MKT) or limit-at-the-quote (LMT) order.", field="order_type")
    return order_type


def _reason(reason: str) -> str:
    reason = (reason or "").strip()[:255]
    if not reason:
        raise OrderInvalid("Say why the position is flattened.", field="reason")
    return reason


def _flatten_id(flatten_id: uuid.UUID | str | None) -> uuid.UUID:
    if flatten_id in (None, ""):
        return uuid.uuid4()
    try:
        return uuid.UUID(str(flatten_id))
    except ValueError:
        raise OrderInvalid("flatten_id is not a UUID.", field="flatten_id")


def _close_one(
    *,
    position: Position,
    actor: User | None,
    reason: str,
    order_type: str,
    flatten_id: uuid.UUID,
    past_kill_switch: bool,
    outcome: FlattenOutcome,
    via: str,
) -> None:
    """Cancel the working orders of the position's account and instrument, then enter its closing order."""
    client_order_id = flatten_client_order_id(position, flatten_id)
    existing = Order.objects.filter(client_order_id=client_order_id).first()
    if existing is not None:
        # The same flatten posted again: its order is the answer, nothing is cancelled or sent twice.
        outcome.orders.append(existing)
        return
    working = Order.objects.filter(
        account_id=position.account_id, instrument_id=position.instrument_id, status__in=CANCELLABLE_STATUSES
    ).select_related("account")
    for order in working.order_by("id"):
        outcome.cancelled.append(order_cancel(order=order, actor=actor, reason=f"flatten: {reason}", via=via))
    side = Side.SELL if position.quantity > 0 else Side.BUY
    # The column's scale (8.0000) is not the order's: the quantity as a person would type it.
    quantity = abs(position.quantity)
    quantity = quantity.quantize(Decimal("1")) if quantity == quantity.to_integral_value() else quantity.normalize()
    limit_price = flatten_limit_price(position, side) if order_type == OrderType.LIMIT else None
    outcome.orders.append(
        order_submit(
            actor=actor,
            account=position.account,
            instrument=position.instrument,
            side=side,
            quantity=quantity,
            order_type=order_type,
            limit_price=limit_price,
            source=OrderSource.API if via == "api" else OrderSource.ADMIN,
            client_order_id=client_order_id,
            # The flatten's own confirmation stands for the duplicate guard's.
            confirm_duplicate=True,
            reduce_only=True,
            past_kill_switch=past_kill_switch,
            via=via,
        )
    )


def _flatten_many(
    *,
    positions: list[Position],
    actor: User | None,
    reason: str,
    order_type: str,
    flatten_id: uuid.UUID,
    past_kill_switch: bool,
    via: str,
) -> FlattenOutcome:
    # Each position in a savepoint: one refused (a risk limit, a halted account) leaves the others going.
    outcome = FlattenOutcome(flatten_id=flatten_id)
    for position in positions:
        try:
            with transaction.atomic():
                _close_one(
                    position=position,
                    actor=actor,
                    reason=reason,
                    order_type=order_type,
                    flatten_id=flatten_id,
                    past_kill_switch=past_kill_switch,
                    outcome=outcome,
                    via=via,
                )
        except ApplicationError as refusal:
            outcome.refused.append(
                {
                    "account": position.account.code,
                    "symbol": position.instrument.symbol,
                    "code": refusal.code,
                    "detail": refusal.message,
                }
            )
    return outcome


def _open_positions(**filters) -> list[Position]:
    return list(
        Position.objects.select_related("account", "instrument")
        .filter(**filters)
        .exclude(quantity=0)
        .order_by("account__code", "instrument__symbol")
    )


@transaction.atomic
def position_flatten(
    *,
    position: Position,
    actor: User | None,
    reason: str,
    order_type: str = OrderType.MARKET,
    flatten_id: uuid.UUID | str | None = None,
    via: str,
) -> FlattenOutcome:
    """Close one position: cancel its instrument's working orders on the account, enter the closing order.

    The order is reduce-only (``order_submit`` checks it against the book position under the
    account lock) with ``client_order_id`` ``flatten_client_order_id(position, flatten_id)``:
    posting the same ``flatten_id`` again returns the first order. Audited as ``position.flatten``.

    :raises OrderInvalid: no reason, an order type other than MKT or LMT, no price to limit at.
    :raises PositionFlat: the position is flat.
    :raises ApplicationError: every refusal of ``order_cancel`` and ``order_submit`` (kill switch,
        halt, risk limits, permissions), with nothing written.
    """
    reason, order_type, flatten_id = _reason(reason), _order_type(order_type), _flatten_id(flatten_id)
    require_actor(actor, account=position.account, perm="orders.add_order")
    position = Position.objects.select_related("account", "instrument").get(pk=position.pk)
    outcome = FlattenOutcome(flatten_id=flatten_id)
    existing = Order.objects.filter(client_order_id=flatten_client_order_id(position, flatten_id)).first()
    if existing is not None:
        # The same flatten posted again (its order may have filled since): the first answer, once audited.
        outcome.orders.append(existing)
        return outcome
    if position.quantity == 0:
        raise PositionFlat(f"{position.account.code} holds no {position.instrument.symbol}.")
    _close_one(
        position=position,
        actor=actor,
        reason=reason,
        order_type=order_type,
        flatten_id=flatten_id,
        past_kill_switch=False,
        outcome=outcome,
        via=via,
    )
    audit_record(
        actor=actor,
        action="position.flatten",
        obj=position,
        account=position.account,
        after={"reason": reason, "order_type": order_type, "quantity": str(position.quantity), **outcome.data()},
        via=via,
    )
    return outcome


@transaction.atomic
def account_flatten(
    *,
    account: BrokerAccount,
    actor: User | None,
    reason: str,
    order_type: str = OrderType.MARKET,
    flatten_id: uuid.UUID | str | None = None,
    via: str,
) -> FlattenOutcome:
    """Close every open position of ``account`` (as ``position_flatten`` each); one ``account.flatten`` audit row.

    A position refused (a risk limit, no price) is listed in the outcome's ``refused`` and the
    others go on.

    :raises OrderInvalid: no reason, an order type other than MKT or LMT.
    :raises AccountNotMember, PermissionRequired: the actor may not trade the account.
    :raises PositionFlat: the account holds no open position.
    """
    reason, order_type, flatten_id = _reason(reason), _order_type(order_type), _flatten_id(flatten_id)
    require_actor(actor, account=account, perm="orders.add_order")
    positions = _open_positions(account=account)
    if not positions:
        raise PositionFlat(f"Account {account.code} holds no open position.")
    outcome = _flatten_many(
        positions=positions,
        actor=actor,
        reason=reason,
        order_type=order_type,
        flatten_id=flatten_id,
        past_kill_switch=False,
        via=via,
    )
    audit_record(
        actor=actor,
        action="account.flatten",
        obj=account,
        account=account,
        after={"reason": reason, "order_type": order_type, **outcome.data()},
        via=via,
    )
    return outcome


@transaction.atomic
def desk_flatten(
    *,
    actor: User | None,
    reason: str,
    order_type: str = OrderType.MARKET,
    flatten_id: uuid.UUID | str | None = None,
    via: str,
    past_kill_switch: bool = False,
) -> FlattenOutcome:
    """Close every open position of every account; one ``desk.flatten`` audit row (on the kill switch's row).

    Needs the kill switch permission (the desk-wide control). ``past_kill_switch``: only
    ``kill_switch_cancel_and_flatten`` passes it.

    :raises OrderInvalid: no reason, an order type other than MKT or LMT.
    :raises PermissionRequired: the actor may not use the kill switch.
    :raises PositionFlat: no account holds an open position.
    """
    reason, order_type, flatten_id = _reason(reason), _order_type(order_type), _flatten_id(flatten_id)
    require_actor(actor, perm="accounts.change_killswitch")
    positions = _open_positions()
    if not positions:
        raise PositionFlat("No account holds an open position.")
    outcome = _flatten_many(
        positions=positions,
        actor=actor,
        reason=reason,
        order_type=order_type,
        flatten_id=flatten_id,
        past_kill_switch=past_kill_switch,
        via=via,
    )
    switch, _ = KillSwitch.objects.get_or_create(pk=1)
    audit_record(
        actor=actor,
        action="desk.flatten",
        obj=switch,
        after={"reason": reason, "order_type": order_type, "past_kill_switch": past_kill_switch, **outcome.data()},
        via=via,
    )
    return outcome


@transaction.atomic
def kill_switch_cancel_and_flatten(
    *,
    actor: User | None,
    reason: str,
    order_type: str = OrderType.MARKET,
    flatten_id: uuid.UUID | str | None = None,
    via: str,
) -> FlattenOutcome:
    """The kill switch's "cancel and flatten" mode: engage it (cancelling every working order), then flatten the desk.

    One transaction: the engage (``kill_switch_engage``, mode ``cancel_all``) and the closing
    orders, the only orders allowed past the engaged switch (reduce-only). A desk with no open
    position is still halted and cancelled.

    :raises OrderInvalid: no reason, an order type other than MKT or LMT.
    :raises PermissionRequired: the actor may not use the kill switch.
    """
    reason, order_type, flatten_id = _reason(reason), _order_type(order_type), _flatten_id(flatten_id)
    kill_switch_engage(actor=actor, reason=reason, cancel_working=True, via=via)
    try:
        with transaction.atomic():
            return desk_flatten(
                actor=actor,
                reason=reason,
                order_type=order_type,
                flatten_id=flatten_id,
                via=via,
                past_kill_switch=True,
            )
    except PositionFlat:
        return FlattenOutcome(flatten_id=flatten_id)
