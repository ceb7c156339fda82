"""Checks of an order's own fields, before anything is read from the database."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation

from execution_worker import messages as contract
from orders.exceptions import (
    OrderInvalid,
    OrderLimitPriceRequired,
    OrderPriceNotAllowed,
    OrderPriceNotPositive,
    OrderPriceOffTick,
    OrderQuantityNotPositive,
    OrderStopPriceRequired,
)
from orders.models import PRICE, QUANTITY, Instrument, OrderSource, OrderType, Side, TimeInForce

QUANTITY_STEP = Decimal(1).scaleb(-QUANTITY["decimal_places"])


def to_decimal(value, *, field: str) -> Decimal | None:
    """Return ``value`` as a finite Decimal (None stays None).

    :raises OrderInvalid: not a number.
    """
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise OrderInvalid(f"{field} is not a number: {value!r}.", field=field)
    if not number.is_finite():
        raise OrderInvalid(f"{field} is not a finite number.", field=field)
    return number


def check_choice(value: str, choices, *, field: str) -> str:
    """Return ``value`` if it is one of ``choices``.

    :raises OrderInvalid: it is not.
    """
    if value not in choices:
        raise OrderInvalid(f"{field} must be one of {', '.join(choices)}; got {value!r}.", field=field)
    return value


def check_quantity(quantity: Decimal) -> None:
    """Refuse a quantity that is not positive or has more precision than the book keeps.

    :raises OrderQuantityNotPositive, OrderInvalid:
    """
    if quantity is None or quantity <= 0:
        raise OrderQuantityNotPositive(field="quantity")
    # The size first: quantize raises InvalidOperation on more digits than the context's precision (1e400).
    if quantity.adjusted() >= QUANTITY["max_digits"] - 4 or quantity != quantity.quantize(QUANTITY_STEP):
        raise OrderInvalid("The quantity has too many digits.", field="quantity")


def check_price_on_tick(price: Decimal, instrument: Instrument, *, field: str) -> None:
    """Refuse a price that is not positive or not a whole number of the instrument's ticks.

    :raises OrderPriceNotPositive, OrderPriceOffTick:
    """
    if price <= 0:
        raise OrderPriceNotPositive(field=field)
    if price.adjusted() >= PRICE["max_digits"] - PRICE["decimal_places"]:
        raise OrderInvalid(f"{field} is too large.", field=field)
    if price % instrument.min_tick != 0:
        raise OrderPriceOffTick(
            f"{price} is not a multiple of {instrument.symbol}'s tick {instrument.min_tick.normalize()}.",
            field=field,
        )


def check_prices(
    order_type: str, limit_price: Decimal | None, stop_price: Decimal | None, instrument: Instrument
) -> None:
    """Refuse prices the order type needs but lacks, takes no such price, or off the tick.

    :raises OrderLimitPriceRequired, OrderStopPriceRequired, OrderPriceNotAllowed,
        OrderPriceNotPositive, OrderPriceOffTick:
    """
    takes_limit = contract.takes_price(order_type, "limit_price")
    takes_stop = contract.takes_price(order_type, "stop_price")
    if takes_limit and limit_price is None:
        raise OrderLimitPriceRequired(field="limit_price")
    if takes_stop and stop_price is None:
        raise OrderStopPriceRequired(field="stop_price")
    if not takes_limit and limit_price is not None:
        raise OrderPriceNotAllowed(f"A {order_type} order takes no limit price.", field="limit_price")
    if not takes_stop and stop_price is not None:
        raise OrderPriceNotAllowed(f"A {order_type} order takes no stop price.", field="stop_price")
    if limit_price is not None:
        check_price_on_tick(limit_price, instrument, field="limit_price")
    if stop_price is not None:
        check_price_on_tick(stop_price, instrument, field="stop_price")


def check_fields(*, side: str, order_type: str, tif: str, source: str) -> None:
    """Refuse a side, order type, time in force or source outside its choices.

    :raises OrderInvalid:
    """
    check_choice(side, Side.values, field="side")
    check_choice(order_type, OrderType.values, field="order_type")
    check_choice(tif, TimeInForce.values, field="tif")
    check_choice(source, OrderSource.values, field="source")


def check_chosen_client_order_id(client_order_id: uuid.UUID) -> None:
    """Refuse a ``client_order_id`` a person or script chose that is not a random UUID (version 4).

    Ids are unique across the desk, so a taken id is refused whoever's order holds it; what a
    caller may learn from that is only whether an id they already know exists. The desk derives
    the ids of scheduled and retried orders (version 5, from public names): a caller may neither
    probe those nor take one first, so they are refused before any lookup, whether or not taken.

    :raises OrderInvalid: not a version 4 UUID.
    """
    if client_order_id.version != 4 or client_order_id.variant != uuid.RFC_4122:
        raise OrderInvalid("client_order_id must be a random UUID (version 4).", field="client_order_id")
