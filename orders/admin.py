"""The orders app's admin, one topic a module; importing them registers their model admins.

- ``admin_instruments``: instruments (created, edited, retired through the instrument services).
- ``admin_orders``: orders (entered, cancelled, approved, refused through the services; never
  edited) and their events; ``admin_brackets``: the bracket entry page.
- ``admin_positions``: fills, positions and PnL points, read-only.
- ``admin_risk_limits``: risk limits, saved through ``risk_limit_update``.
- ``admin_schedules``: scheduled orders and their runs.
- ``admin_baskets``: baskets, read-only, with their orders and the Cancel action.
"""

from orders import (
    admin_baskets,
    admin_instruments,
    admin_orders,
    admin_positions,
    admin_risk_limits,
    admin_schedules,
)

__all__ = [
    "admin_baskets",
    "admin_instruments",
    "admin_orders",
    "admin_positions",
    "admin_risk_limits",
    "admin_schedules",
]
