"""What a person's Modify form (the live blotter's, the admin's) asks of ``order_modify``: the fields the
order's type takes, prefilled with what the order is asked to be, and only the values that changed; and
how an unanswered modify is said on the blotter's row and the order's page."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from execution_worker import messages as contract
from orders import validation
from orders.models import Order, TimeInForce
from orders.transitions import MODIFIABLE_STATUSES

# A working order's TIF moves between these only (``order_modify``): the forms offer them.
MODIFY_TIFS = (TimeInForce.DAY, TimeInForce.GTC)
MODIFY_TIF_CHOICES = [(value, TimeInForce(value).label) for value in MODIFY_TIFS]


def modify_offered(order: Order) -> bool:
    """Whether the forms offer Modify for ``order`` (the service may still refuse: a halt, a limit).

    Not for an IOC order: it cannot rest long enough to be changed, nor change its TIF.
    """
    return order.status in MODIFIABLE_STATUSES and order.tif in MODIFY_TIFS


def modify_fields(order: Order) -> list[str]:
    """The fields a Modify form of ``order`` shows: the quantity, the prices its type takes, the TIF."""
    prices = [name for name in ("limit_price", "stop_price") if contract.takes_price(order.order_type, name)]
    return ["quantity", *prices, "tif"]


def modify_initial(order: Order) -> dict[str, str]:
    """The values a Modify form of ``order`` starts from: what the order is asked to be, confirmed or not."""
    values = {
        "quantity": order.pending_quantity if order.pending_quantity is not None else order.quantity,
        "limit_price": order.limit_price,
        "stop_price": order.stop_price,
        "tif": order.tif,
    }
    return {name: _plain(values[name]) for name in modify_fields(order)}


def modify_changes(order: Order, values: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``order_modify`` for the fields of ``values`` that differ from
    ``modify_initial`` (a blank field is left as it is).

    Only what changed is sent, so a quantity change is not refused by a limit price the market has
    since moved away from (the collar checks the prices a modify gives).

    :raises OrderInvalid: a number that is not one.
    """
    initial = modify_initial(order)
    changes: dict[str, Any] = {}
    for name in modify_fields(order):
        raw = values.get(name)
        if raw is None or str(raw).strip() == "":
            continue
        if name == "tif":
            value = str(raw).strip()
            changed = value != initial[name]
        else:
            value = validation.to_decimal(raw, field=name)
            changed = not initial[name] or value != Decimal(initial[name])
        if changed:
            changes[name] = value
    return changes


def modify_pending_text(order: Order) -> str:
    """What the unanswered modify changes, as the broker has it → as asked: ``qty 100 → 150, limit 10 → 10.5``."""
    if order.modify_requested_at is None:
        return ""
    changes = []
    if order.pending_quantity is not None:
        changes.append(f"qty {_plain(order.quantity)} → {_plain(order.pending_quantity)}")
    prior = order.modify_prior or {}
    for name, label in (("limit_price", "limit"), ("stop_price", "stop")):
        if name in prior:
            before = _plain(Decimal(prior[name])) if prior[name] is not None else "none"
            changes.append(f"{label} {before} → {_plain(getattr(order, name)) or 'none'}")
    if "tif" in prior:
        changes.append(f"TIF {prior['tif']} → {order.tif}")
    return ", ".join(changes)


def _plain(value: Any) -> str:
    """A form's text of ``value``: a decimal without trailing zeros, nothing for None."""
    if value is None:
        return ""
    return f"{value.normalize():f}" if isinstance(value, Decimal) else str(value)
