"""Instruments: created and changed by people, their last price recorded from the ticks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q

from accounts.announce import announce_object
from accounts.command_text import command_text_check
from accounts.models import User
from accounts.services import (
    audit_record,
    jsonable,
    model_validate,
    require_actor,
    save_unique,
)
from orders.exceptions import (
    InstrumentExists,
    InstrumentInvalid,
)
from orders.models import (
    Instrument,
    RiskLimit,
)
from orders.services.common import PRICE_STEP, decimal_text
from orders.services.risk_limits import risk_limits_publish


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
    steps = {
        name: decimal_text(getattr(instrument, name)) for name in ("min_tick", "min_quantity", "quantity_increment")
    }
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
