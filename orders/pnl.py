"""FIFO position keeping as pure functions: the same code updates a book fill by fill and
recomputes it from scratch, so both always agree.

A lot is what is left of one opening fill: a signed quantity (positive long, negative short)
at its price. A fill first closes the oldest lots of the opposite sign, realizing
``(exit - entry) * quantity * multiplier`` for longs and the mirror for shorts; whatever it
has left opens a new lot, so a sale larger than a long position goes short through zero.
Realized PnL here is gross of commissions (commissions are kept on the fill).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

ZERO = Decimal("0")


@dataclass(frozen=True)
class Lot:
    """An open FIFO lot. ``ref`` identifies its origin (a fill or a stored lot) to the caller."""

    quantity: Decimal
    price: Decimal
    ref: Any = None
    opened_at: datetime | None = None


def signed_quantity(side: str, quantity: Decimal) -> Decimal:
    """Return ``quantity`` signed by ``side``: positive for BUY, negative for SELL.

    :raises ValueError: ``side`` is neither BUY nor SELL, or ``quantity`` is not positive.
    """
    quantity = Decimal(quantity)
    if quantity <= 0:
        raise ValueError(f"A fill quantity must be positive, got {quantity}.")
    if side == "BUY":
        return quantity
    if side == "SELL":
        return -quantity
    raise ValueError(f"Unknown side {side!r}.")


def apply_fill(
    lots: Iterable[Lot],
    *,
    side: str,
    quantity: Decimal,
    price: Decimal,
    multiplier: Decimal | int = 1,
    ref: Any = None,
    at: datetime | None = None,
) -> tuple[list[Lot], Decimal]:
    """Apply one fill to ``lots`` (oldest first); return the new lots and the PnL it realized.

    The input is not changed. The lots returned keep FIFO order: survivors first, then the
    lot the fill opened, if any.

    :raises ValueError: a bad side or a non-positive quantity.
    """
    remaining = signed_quantity(side, quantity)
    price = Decimal(price)
    multiplier = Decimal(multiplier)
    realized = ZERO
    result: list[Lot] = []
    for lot in lots:
        closes = remaining != 0 and (lot.quantity > 0) != (remaining > 0)
        if not closes:
            result.append(lot)
            continue
        closed = min(abs(lot.quantity), abs(remaining))
        direction = 1 if lot.quantity > 0 else -1
        realized += (price - lot.price) * closed * direction * multiplier
        left = abs(lot.quantity) - closed
        remaining += closed * direction
        if left:
            result.append(replace(lot, quantity=left * direction))
    if remaining:
        result.append(Lot(quantity=remaining, price=price, ref=ref, opened_at=at))
    return result, realized


def _field(fill: Any, name: str) -> Any:
    return fill[name] if isinstance(fill, Mapping) else getattr(fill, name)


def fifo_replay(fills: Iterable[Any], *, multiplier: Decimal | int = 1) -> tuple[list[Lot], Decimal]:
    """Recompute open lots and total realized PnL from ``fills`` in execution order.

    Each fill is an object or mapping with ``side``, ``quantity`` and ``price`` (``Fill`` rows
    work); a ``multiplier`` key on a mapping overrides the argument. Lots carry the fill as ``ref``.
    """
    lots: list[Lot] = []
    realized = ZERO
    for fill in fills:
        fill_multiplier = fill.get("multiplier", multiplier) if isinstance(fill, Mapping) else multiplier
        at = fill.get("executed_at") if isinstance(fill, Mapping) else getattr(fill, "executed_at", None)
        lots, gained = apply_fill(
            lots,
            side=_field(fill, "side"),
            quantity=Decimal(_field(fill, "quantity")),
            price=Decimal(_field(fill, "price")),
            multiplier=fill_multiplier,
            ref=fill,
            at=at,
        )
        realized += gained
    return lots, realized


def net_quantity(lots: Iterable[Lot]) -> Decimal:
    """Return the signed position the lots add up to."""
    return sum((lot.quantity for lot in lots), ZERO)


def average_cost(lots: Iterable[Lot]) -> Decimal:
    """Return the quantity-weighted entry price of the open lots, 0 when flat."""
    lots = list(lots)
    size = sum((abs(lot.quantity) for lot in lots), ZERO)
    if not size:
        return ZERO
    return sum((abs(lot.quantity) * lot.price for lot in lots), ZERO) / size


def unrealized(lots: Iterable[Lot], price: Decimal | None, *, multiplier: Decimal | int = 1) -> Decimal:
    """Return the PnL the open lots would realize if closed at ``price`` (0 without a price)."""
    if price is None:
        return ZERO
    price = Decimal(price)
    return sum(((price - lot.price) * lot.quantity for lot in lots), ZERO) * Decimal(multiplier)
