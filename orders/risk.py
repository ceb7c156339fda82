"""Pre-trade risk checks of ``order_submit`` and ``order_modify`` against an account's ``RiskLimit``.

The worker applies the same limits again (published through ``risk_limits_publish``); these
checks refuse early, with a code a person can act on. Callers hold the account row lock, so
the counts read here cannot race with another order of the same account.
"""

from __future__ import annotations

from decimal import Decimal

from orders.exceptions import (
    InstrumentInactive,
    InstrumentNotAllowed,
    OrderNotReducing,
    RiskDailyLoss,
    RiskMaxNotional,
    RiskMaxPosition,
    RiskMaxQuantity,
    RiskNoReferencePrice,
    RiskPriceCollar,
    RiskRate,
)
from orders.models import Instrument, RiskLimit, Side
from orders.selectors import OrderEntryExposure

HUNDRED = Decimal("100")


def reference_price(
    *, limit_price: Decimal | None, stop_price: Decimal | None, instrument: Instrument
) -> Decimal | None:
    """Return the price the notional is measured at: the limit, else the stop, else the last price."""
    return limit_price or stop_price or instrument.last_price


def check_instrument(*, limits: RiskLimit, instrument: Instrument, exposure: OrderEntryExposure) -> None:
    """Refuse an inactive instrument or one outside the account's allowed list (empty: all allowed).

    ``exposure`` (``selectors.order_entry_exposure``) answers the allowed-list test.

    :raises InstrumentInactive, InstrumentNotAllowed:
    """
    if not instrument.active:
        raise InstrumentInactive(f"{instrument.symbol} is not active.", field="instrument")
    if limits.pk is not None and exposure.allowed_restricted and not exposure.allowed_this:
        raise InstrumentNotAllowed(
            f"{instrument.symbol} is not allowed for account {limits.account.code}.", field="instrument"
        )


def check_size(
    *,
    limits: RiskLimit,
    instrument: Instrument,
    quantity: Decimal,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
) -> Decimal:
    """Refuse an order above the maximum quantity or notional; return its notional.

    A market order is measured at the instrument's last price; without one its notional is
    unknown and it is refused (``risk.no_reference_price``): the desk never sends an order whose
    size in money it cannot bound.

    :raises RiskMaxQuantity, RiskMaxNotional, RiskNoReferencePrice:
    """
    if quantity > limits.max_order_quantity:
        raise RiskMaxQuantity(
            f"Quantity {quantity.normalize():f} is above the maximum {limits.max_order_quantity.normalize():f}.",
            field="quantity",
            extra={"limit": str(limits.max_order_quantity), "value": str(quantity)},
        )
    price = reference_price(limit_price=limit_price, stop_price=stop_price, instrument=instrument)
    if price is None:
        raise RiskNoReferencePrice(field="order_type")
    notional = quantity * price * instrument.multiplier
    if notional > limits.max_order_notional:
        raise RiskMaxNotional(
            f"Notional {notional:.2f} is above the maximum {limits.max_order_notional:.2f}.",
            field="quantity",
            extra={"limit": str(limits.max_order_notional), "value": str(notional)},
        )
    return notional


def needs_approval(*, limits: RiskLimit, notional: Decimal) -> bool:
    """Return whether an order of ``notional`` must wait for a risk manager (``approval_above_notional``)."""
    threshold = limits.approval_above_notional
    return threshold is not None and notional > threshold


def projected_position(*, current: Decimal, working: Decimal, side: str, quantity: Decimal) -> Decimal:
    """Return the position if every working order on ``side`` and this one fill completely."""
    return current + working + quantity if side == Side.BUY else current - working - quantity


def reduces_position(*, current: Decimal, projected: Decimal) -> bool:
    """Return whether going from ``current`` to ``projected`` only shrinks the position toward zero."""
    return abs(projected) < abs(current) and (projected == 0 or (projected > 0) == (current > 0))


def check_reduce_only(*, side: str, quantity: Decimal, exposure: OrderEntryExposure) -> None:
    """Refuse an order that would not only shrink the account's book position toward zero.

    A flatten's order (``reduce_only``) must be on the closing side and at most the position's
    size, read under the account lock at entry: it can never open or grow exposure.

    :raises OrderNotReducing:
    """
    current = exposure.position
    signed = quantity if side == Side.BUY else -quantity
    if current == 0 or not reduces_position(current=current, projected=current + signed):
        raise OrderNotReducing(
            f"The position is {current.normalize():f}; {side} {quantity.normalize():f} would not only reduce it.",
            field="quantity",
            extra={"position": str(current)},
        )


def check_position(
    *,
    limits: RiskLimit,
    side: str,
    quantity: Decimal,
    exposure: OrderEntryExposure,
    exclude_quantity: Decimal = Decimal("0"),
) -> tuple[Decimal, Decimal]:
    """Refuse an order that could take the position beyond ``max_position`` on its side.

    Counts the book position plus the unfilled rest of the working orders on the same side
    (``exclude_quantity`` removes an order being modified from that rest). An order that moves
    the position toward zero is never refused here. Returns ``(current, projected)``.
    ``exposure`` (read for this account, instrument and side) gives both counts.

    :raises RiskMaxPosition:
    """
    current, working = exposure.position, exposure.working - exclude_quantity
    projected = projected_position(current=current, working=working, side=side, quantity=quantity)
    beyond = projected > limits.max_position if side == Side.BUY else projected < -limits.max_position
    if beyond:
        raise RiskMaxPosition(
            f"The position could reach {projected.normalize():f}; the maximum is {limits.max_position.normalize():f}.",
            field="quantity",
            extra={"limit": str(limits.max_position), "value": str(projected)},
        )
    return current, projected


def check_collar(
    *, limits: RiskLimit, instrument: Instrument, limit_price: Decimal | None, stop_price: Decimal | None
) -> None:
    """Refuse a limit or stop price more than ``price_collar_pct`` % away from the last price.

    Without a last price there is nothing to measure against, so nothing is refused; a collar
    of 0 % turns the check off.

    :raises RiskPriceCollar:
    """
    last = instrument.last_price
    if not last or limits.price_collar_pct <= 0:
        return
    for field, price in (("limit_price", limit_price), ("stop_price", stop_price)):
        if price is None:
            continue
        distance = abs(price - last) / last * HUNDRED
        if distance > limits.price_collar_pct:
            raise RiskPriceCollar(
                f"{field.replace('_', ' ').capitalize()} {price.normalize():f} is {distance:.2f}% from the last "
                f"price {last.normalize():f}; the collar is {limits.price_collar_pct}%.",
                field=field,
                extra={"limit": str(limits.price_collar_pct), "value": f"{distance:.4f}"},
            )


def check_rate(*, limits: RiskLimit, exposure: OrderEntryExposure) -> None:
    """Refuse an order once ``orders_per_minute`` orders were entered in the last 60 seconds.

    ``exposure`` gives the count.

    :raises RiskRate:
    """
    count = exposure.orders_last_minute
    if count >= limits.orders_per_minute:
        raise RiskRate(
            f"{count} orders in the last minute; the limit is {limits.orders_per_minute}.",
            extra={"limit": limits.orders_per_minute, "value": count},
        )


def check_daily_loss(*, limits: RiskLimit, current: Decimal, projected: Decimal, exposure: OrderEntryExposure) -> None:
    """Refuse a new order once today's realized loss (net of commissions) reaches ``max_daily_loss``.

    Orders that only reduce the position stay allowed, so the desk can still flatten.
    ``exposure`` gives today's realized PnL.

    :raises RiskDailyLoss:
    """
    if reduces_position(current=current, projected=projected):
        return
    realized = exposure.realized_today
    if -realized >= limits.max_daily_loss:
        raise RiskDailyLoss(
            f"Realized PnL today is {realized:.2f}; the daily loss limit is {limits.max_daily_loss:.2f}.",
            extra={"limit": str(limits.max_daily_loss), "value": str(realized)},
        )
