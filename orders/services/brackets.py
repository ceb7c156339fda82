"""Bracket entry: an entry order with its take-profit and stop-loss, sent to the broker as one chain.

The three orders are rows of their own (the children name the entry as ``parent``) and travel in
one ``order.place``: the entry's, with the children under ``children``. The worker records all three
before its first send and transmits them as IB's chain (``execution_worker/chains.py``): the
children do not work until the entry fills, a child's fill cancels its sibling at the broker, and
cancelling the entry cancels the children. A bracket is never half sent: refused whole, or working.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import BrokerAccount, User
from accounts.services import audit_record, outbox_enqueue
from orders import validation
from orders.exceptions import OrderBracketInvalid, OrderNotCancellable
from orders.models import Instrument, Order, OrderStatus, OrderType, Side
from orders.services.common import decimal_text, order_place_data, order_snapshot, unpublished_place
from orders.services.entry import order_entry_check, order_entry_write
from orders.services.events import OrderEventKind, order_event_record
from orders.services.states import order_save, order_status_set


@dataclass(frozen=True)
class Bracket:
    """The three orders of a bracket."""

    entry: Order
    take_profit: Order
    stop_loss: Order


def bracket_submit(
    *,
    actor: User | None,
    account: BrokerAccount | str,
    instrument: Instrument | str,
    side: str,
    quantity: Decimal | int | str,
    order_type: str = OrderType.LIMIT,
    limit_price: Decimal | str | None = None,
    stop_price: Decimal | str | None = None,
    take_profit_price: Decimal | str,
    stop_loss_price: Decimal | str,
    tif: str = "DAY",
    outside_rth: bool = False,
    source: str,
    trading_session=None,
    client_order_id: uuid.UUID | str | None = None,
    take_profit_client_order_id: uuid.UUID | str | None = None,
    stop_loss_client_order_id: uuid.UUID | str | None = None,
    confirm_duplicate: bool = False,
    via: str,
) -> Bracket:
    """Enter a bracket: the entry order, a take-profit (limit) and a stop-loss (stop) on the other side.

    Each order passes every check of ``order_submit`` (the children as orders of their own: size,
    tick, collar, position); the three rows, their events and audit rows and the one ``order.place``
    (the entry's, with ``children``) are written in one transaction, or nothing is. The same
    ``client_order_id`` again returns the bracket already entered. A ``trading_session`` (a
    strategy's bracket) is set on all three orders, so the exits' fills count in its position.

    :raises OrderBracketInvalid: the prices are not on the right sides (a buy: stop-loss < entry <
        take-profit), or the bracket would need approval (a bracket is sent whole or not at all).
    :raises ApplicationError: any refusal ``order_submit`` documents, for any of the three orders.
    """
    with transaction.atomic():
        if client_order_id is not None:
            existing = Order.objects.filter(client_order_id=_uuid(client_order_id, "client_order_id")).first()
            if existing is not None and existing.children.exists():
                return _bracket_of(existing)
        exit_side = Side.SELL if side == Side.BUY else Side.BUY
        take = validation.to_decimal(take_profit_price, field="take_profit_price")
        stop = validation.to_decimal(stop_loss_price, field="stop_loss_price")
        if take is None or stop is None:
            field = "take_profit_price" if take is None else "stop_loss_price"
            raise OrderBracketInvalid("A bracket needs a take-profit and a stop-loss price.", field=field)
        entry_price = validation.to_decimal(
            stop_price if order_type == OrderType.STOP else limit_price,
            field="stop_price" if order_type == OrderType.STOP else "limit_price",
        )
        _check_sides(side=side, entry=entry_price, take=take, stop=stop)
        common = {
            "actor": actor,
            "account": account,
            "instrument": instrument,
            "quantity": quantity,
            "tif": tif,
            "outside_rth": outside_rth,
            "source": source,
            "trading_session": trading_session,
        }
        values = order_entry_check(
            **common,
            side=side,
            order_type=order_type,
            limit_price=limit_price,
            stop_price=stop_price,
            client_order_id=client_order_id,
            confirm_duplicate=confirm_duplicate,
        )
        if isinstance(values, Order):
            raise OrderBracketInvalid("client_order_id names an order that is not a bracket.", field="client_order_id")
        if values["status"] != OrderStatus.NEW:
            raise OrderBracketInvalid(
                "The bracket needs risk approval; a bracket is sent whole, so enter the orders one by one.",
                field="quantity",
            )
        entry = order_entry_write(values, actor=actor, via=via, enqueue=False)
        children = []
        for coid, prices in (
            (take_profit_client_order_id, {"order_type": OrderType.LIMIT, "limit_price": take}),
            (stop_loss_client_order_id, {"order_type": OrderType.STOP, "stop_price": stop}),
        ):
            values = order_entry_check(
                **common,
                side=exit_side,
                parent=entry,
                client_order_id=coid,
                # The entry answered the duplicate question for the bracket.
                confirm_duplicate=True,
                **prices,
            )
            if isinstance(values, Order) or values["status"] != OrderStatus.NEW:
                raise OrderBracketInvalid("A bracket's child cannot be entered.", field="client_order_id")
            values.pop("duplicate_of", None)
            children.append(order_entry_write(values, actor=actor, via=via, enqueue=False))
        outbox_enqueue(type="order.place", data=bracket_place_data(entry, children))
        return Bracket(entry=entry, take_profit=children[0], stop_loss=children[1])


def bracket_place_data(entry: Order, children: list[Order]) -> dict[str, Any]:
    """The ``order.place`` of a bracket: the entry's command with its children under ``children``."""
    data = order_place_data(entry)
    data["children"] = [
        {
            key: value
            for key, value in {
                "client_order_id": str(child.client_order_id),
                "side": child.side,
                "quantity": decimal_text(child.quantity),
                "order_type": child.order_type,
                "limit_price": decimal_text(child.limit_price),
                "stop_price": decimal_text(child.stop_price),
                "tif": child.tif,
                "outside_rth": child.outside_rth,
            }.items()
            if value is not None
        }
        for child in children
    ]
    return data


def bracket_child_cancel_check(*, order: Order) -> None:
    """Refuse cancelling a bracket's child alone while the bracket has not been sent.

    :raises OrderNotCancellable: the child travels in its entry's unsent ``order.place``.
    """
    if unpublished_place(order.parent) is not None:
        raise OrderNotCancellable(
            "The bracket has not reached the broker yet; cancel its entry order, which cancels the whole bracket."
        )


def bracket_children_withdraw(*, parent: Order, actor: User | None, via: str) -> list[Order]:
    """Cancel, locally, the children of a bracket whose ``order.place`` was withdrawn (never sent)."""
    withdrawn = []
    for child in Order.objects.select_for_update().filter(parent=parent, status=OrderStatus.NEW):
        before = order_snapshot(child)
        fields: set[str] = set()
        order_status_set(child, OrderStatus.CANCELLED, fields)
        order_save(child, fields)
        order_event_record(
            order=child,
            kind=OrderEventKind.CANCELLED,
            from_status=OrderStatus.NEW,
            to_status=OrderStatus.CANCELLED,
            actor=actor,
            detail="its bracket's entry was cancelled before it was sent",
            data={"via": via},
        )
        audit_record(
            actor=actor,
            action="order.cancel",
            obj=child,
            account=child.account,
            before=before,
            after=order_snapshot(child),
            via=via,
        )
        withdrawn.append(child)
    return withdrawn


def _check_sides(*, side: str, entry: Decimal | None, take: Decimal, stop: Decimal) -> None:
    low, high = (stop, take) if side == Side.BUY else (take, stop)
    if not low < high or (entry is not None and not low < entry < high):
        words = "stop-loss < entry < take-profit" if side == Side.BUY else "take-profit < entry < stop-loss"
        raise OrderBracketInvalid(f"The prices of a {side.lower()} bracket must be {words}.", field="take_profit_price")


def _bracket_of(entry: Order) -> Bracket:
    children = list(entry.children.order_by("id"))
    take = next(c for c in children if c.order_type == OrderType.LIMIT)
    stop = next(c for c in children if c.order_type == OrderType.STOP)
    return Bracket(entry=entry, take_profit=take, stop_loss=stop)


def _uuid(value, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise OrderBracketInvalid(f"{field} is not a UUID.", field=field)


__all__ = ["Bracket", "bracket_children_withdraw", "bracket_place_data", "bracket_submit"]
