"""The contract's enumerations, written once: order types and the prices each takes, TIFs, sides, sources.

Django builds its choices from these (``orders.models``) and the worker checks against them, so a new
order type or TIF is added here and nowhere else on either side. The values are the contract's words.
"""

from __future__ import annotations

# Each order type an order.place may carry, and the price fields it takes (it needs those and
# refuses the others). The broker adapter templates every one of them.
ORDER_TYPE_PRICES: dict[str, tuple[str, ...]] = {
    "MKT": (),
    "LMT": ("limit_price",),
    "STP": ("stop_price",),
    "STP LMT": ("limit_price", "stop_price"),
}
ORDER_TYPES: tuple[str, ...] = tuple(ORDER_TYPE_PRICES)
PRICE_FIELDS: tuple[str, ...] = ("limit_price", "stop_price")
DEFAULT_ORDER_TYPE = "MKT"
# A person's words for the contract's codes: the labels of Django's choices (same keys, same order).
ORDER_TYPE_LABELS: dict[str, str] = {"MKT": "Market", "LMT": "Limit", "STP": "Stop", "STP LMT": "Stop limit"}

SIDE_LABELS: dict[str, str] = {"BUY": "Buy", "SELL": "Sell"}
SIDES: tuple[str, ...] = tuple(SIDE_LABELS)
TIF_LABELS: dict[str, str] = {"DAY": "Day", "GTC": "Good till cancelled", "IOC": "Immediate or cancel"}
TIFS: tuple[str, ...] = tuple(TIF_LABELS)
DEFAULT_TIF = "DAY"
# Security types the console trades; the contract carries any short code, ``STK`` by default, and
# the worker's whole-share rule applies to stocks only.
STOCK = "STK"
SEC_TYPES: tuple[str, ...] = (STOCK,)
# Who entered an order.place.
SOURCES: tuple[str, ...] = ("admin", "api", "scheduler", "monitor", "strategy")
HALT_MODES: tuple[str, ...] = ("halt", "cancel_all")
GATEWAY_STATES: tuple[str, ...] = ("disconnected", "connecting", "reconciling", "ready")
REFRESH_WHAT: tuple[str, ...] = ("positions", "account", "open_orders", "executions")
# What an order.rejected refused.
REJECTED_ACTIONS: tuple[str, ...] = ("place", "modify", "cancel")


def takes_price(order_type: str, price_field: str) -> bool:
    """Whether an order of ``order_type`` carries ``price_field`` (``limit_price`` / ``stop_price``)."""
    return price_field in ORDER_TYPE_PRICES.get(order_type, ())


assert tuple(ORDER_TYPE_LABELS) == ORDER_TYPES, "every order type needs a label, in the same order"
