"""The orders app's models, one topic a module; callers (and migrations) import them from here.

- ``amounts``: the sizes of quantities, prices and money.
- ``instruments``: the contracts the desk may trade.
- ``choices``: side, order type, TIF (from the stream contract), source, OCA type, order state.
- ``orders`` and ``events``: an order intent and its append-only history.
- ``fills``: executions, and commission reports waiting for theirs.
- ``positions``: positions, their open FIFO lots, and the accounts' PnL points.
- ``risk_limits``: an account's pre-trade limits and monitoring policies.
- ``schedules``: scheduled orders and their runs.
- ``baskets``: orders entered and sent as one.
"""

from orders.models.amounts import MONEY, PRICE, QUANTITY
from orders.models.baskets import Basket
from orders.models.choices import OcaType, OrderSource, OrderStatus, OrderType, Side, TimeInForce
from orders.models.events import OrderEvent, OrderEventKind
from orders.models.fills import Fill, PendingCommission
from orders.models.instruments import Instrument
from orders.models.orders import Order
from orders.models.positions import PnLPoint, Position, PositionLot
from orders.models.risk_limits import RiskLimit
from orders.models.schedules import ScheduledOrder, ScheduledOrderRun

__all__ = [
    "MONEY",
    "PRICE",
    "QUANTITY",
    "Basket",
    "Fill",
    "Instrument",
    "OcaType",
    "Order",
    "OrderEvent",
    "OrderEventKind",
    "OrderSource",
    "OrderStatus",
    "OrderType",
    "PendingCommission",
    "PnLPoint",
    "Position",
    "PositionLot",
    "RiskLimit",
    "ScheduledOrder",
    "ScheduledOrderRun",
    "Side",
    "TimeInForce",
]
