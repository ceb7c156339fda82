"""Risk-limit keys: the JSON object Django publishes at ``{prefix}:risk:limits:{ACCOUNT}`` for the worker's gate.

Each value is null (no limit) or: a non-negative decimal (``DECIMAL_LIMIT_KEYS``), a whole count
(``COUNT_LIMIT_KEYS``) or a list of symbols (``SYMBOL_LIST_LIMIT_KEYS``, empty: every symbol).
"""

from __future__ import annotations

DECIMAL_LIMIT_KEYS: tuple[str, ...] = (
    "max_order_quantity",
    "max_order_notional",
    "max_position",
    "max_daily_loss",
    "price_collar_pct",
)
COUNT_LIMIT_KEYS: tuple[str, ...] = ("orders_per_minute",)
SYMBOL_LIST_LIMIT_KEYS: tuple[str, ...] = ("allowed_symbols",)
LIMIT_KEYS: tuple[str, ...] = DECIMAL_LIMIT_KEYS + COUNT_LIMIT_KEYS + SYMBOL_LIST_LIMIT_KEYS
