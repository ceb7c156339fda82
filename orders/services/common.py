"""Helpers the order services share: decimal text, snapshots, order locks, redelivery checks,
the desk-open check, resolving instruments and accounts, and the ``order.place`` command.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from accounts.exceptions import AccountHalted, DeskHalted
from accounts.models import BrokerAccount, OutboxMessage
from accounts.services import (
    kill_switch_hold,
)
from orders import sql
from orders.exceptions import (
    InstrumentUnknown,
    OrderInvalid,
)
from orders.models import (
    MONEY,
    PRICE,
    Instrument,
    Order,
)

ZERO = Decimal("0")


MONEY_STEP = Decimal(1).scaleb(-MONEY["decimal_places"])


PRICE_STEP = Decimal(1).scaleb(-PRICE["decimal_places"])


# IB reports "no realized PnL" (an opening execution) as the largest double.
IB_UNSET_DOUBLE = Decimal("1e300")


def decimal_text(value: Decimal | None) -> str | None:
    """A decimal as the plain string the streams carry (``100``, ``187.25``), None kept."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def ns_since_epoch(moment: datetime | None) -> int | None:
    """``moment`` in integer nanoseconds since the epoch (the streams' ``not_before``), None kept."""
    if moment is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1_000


def order_snapshot(order: Order) -> dict[str, Any]:
    """The figures of ``order`` an audit row keeps (decimals as text; a pending quantity when there is one)."""
    return {
        "status": order.status,
        "quantity": decimal_text(order.quantity),
        "limit_price": decimal_text(order.limit_price),
        "stop_price": decimal_text(order.stop_price),
        "filled_quantity": decimal_text(order.filled_quantity),
        "average_fill_price": decimal_text(order.average_fill_price),
        **({"pending_quantity": decimal_text(order.pending_quantity)} if order.pending_quantity is not None else {}),
    }


def order_lock(order: Order) -> Order:
    """Lock ``order``'s row and return it fresh, with its account and instrument."""
    return Order.objects.select_for_update().select_related("account", "instrument").get(pk=order.pk)


def order_lock_by_client_id(client_order_id: Any) -> Order | None:
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
    return sql.order_lock_by_client_id(key)


def message_seen(message_id: Any) -> bool:
    """Whether an event of the broker message ``message_id`` is recorded (a redelivery)."""
    if message_id is None:
        return False
    return sql.order_event_seen(uuid.UUID(str(message_id)))


def desk_open_check(account: BrokerAccount, *, past_kill_switch: bool = False) -> None:
    """Refuse new work on ``account`` while the kill switch is engaged or the account is halted.

    ``past_kill_switch``: the kill switch's own "cancel and flatten" closing a position
    (``orders.services.flatten``, reduce-only); the account's halt still refuses it.

    :raises DeskHalted, AccountHalted:
    """
    # A shared lock, not a plain read: an engage committing while this transaction runs must
    # either wait for it (the order then exists for the engage's cancel_all) or be seen by it.
    if kill_switch_hold() and not past_kill_switch:
        raise DeskHalted()
    if not account.trading_enabled:
        reason = f": {account.halted_reason}" if account.halted_reason else ""
        raise AccountHalted(f"Trading is halted on account {account.code}{reason}.", field="account")


def instrument_resolve(instrument: Instrument | str | int | None) -> Instrument:
    """The instrument named by a saved row, a symbol or a primary key.

    :raises InstrumentUnknown: nothing matches.
    """
    if isinstance(instrument, Instrument) and instrument.pk is not None:
        return instrument
    if isinstance(instrument, str) and instrument:
        # The active one first when a symbol names several (exchanges, currencies); plain SQL,
        # as every order entry by symbol reads it.
        found = sql.instrument_by_symbol(instrument.upper())
        if found is not None:
            return found
    elif isinstance(instrument, int):
        found = Instrument.objects.filter(pk=instrument).first()
        if found is not None:
            return found
    raise InstrumentUnknown(f"No instrument {instrument!r}.", field="instrument")


def account_resolve(account: BrokerAccount | str) -> BrokerAccount:
    """The broker account named by a saved row or an account code.

    :raises OrderInvalid: no such account.
    """
    if isinstance(account, BrokerAccount) and account.pk is not None:
        return account
    found = BrokerAccount.objects.filter(code=str(account)).first()
    if found is None:
        raise OrderInvalid(f"No account {account!r}.", field="account")
    return found


def unpublished_place(order: Order) -> OutboxMessage | None:
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
        "quantity": decimal_text(order.quantity),
        "order_type": order.order_type,
        "limit_price": decimal_text(order.limit_price),
        "stop_price": decimal_text(order.stop_price),
        "tif": order.tif,
        "outside_rth": order.outside_rth,
        "parent_client_order_id": str(order.parent.client_order_id) if order.parent_id else None,
        "oca_group": order.oca_group,
        "oca_type": order.oca_type,
        "not_before": ns_since_epoch(order.not_before),
        "source": order.source,
        "strategy": order.trading_session.strategy.name if order.trading_session_id else "",
        # Optional keys: the worker's gate checks the quantity against them (whole shares without).
        "min_quantity": decimal_text(instrument.min_quantity),
        "quantity_increment": decimal_text(instrument.quantity_increment),
    }
    return {key: value for key, value in data.items() if value is not None}
