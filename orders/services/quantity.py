"""Quantity increments: the smallest quantity of an instrument's orders and the step between them.

An instrument carries ``min_quantity`` and ``quantity_increment`` (whole shares, 1 and 1, unless it
says otherwise; IB's ContractDetails ``minSize`` and ``sizeIncrement`` where the broker provides
them). Every entry point (order entry, modify, scheduled orders) checks a quantity here; the
worker's gate checks it again from the ``min_quantity`` and ``quantity_increment`` keys of
``order.place``.
"""

from __future__ import annotations

from decimal import Decimal

from orders.exceptions import OrderQuantityIncrement
from orders.models import Instrument


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}"


def quantity_increment_text(instrument: Instrument) -> str:
    """Say how ``instrument`` trades: "AAPL trades in increments of 1 (at least 1)"."""
    increment, minimum = _text(instrument.quantity_increment), _text(instrument.min_quantity)
    return f"{instrument.symbol} trades in increments of {increment} (at least {minimum})"


def check_quantity_increment(quantity: Decimal, instrument: Instrument, *, field: str = "quantity") -> None:
    """Refuse a quantity below the instrument's minimum or not a whole number of its increment.

    :raises OrderQuantityIncrement: the message names the increment.
    """
    if quantity >= instrument.min_quantity and quantity % instrument.quantity_increment == 0:
        return
    raise OrderQuantityIncrement(
        f"{quantity_increment_text(instrument)}: {_text(quantity)} is not such a quantity.", field=field
    )
