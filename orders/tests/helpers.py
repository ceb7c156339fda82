"""Helpers shared by the orders tests."""

from __future__ import annotations

from decimal import Decimal

from accounts.models import AuditLog, OutboxMessage
from orders.models import Fill, Order, OrderEvent, Position, PositionLot
from orders.services import order_submit


def submit(*, actor, account, instrument, **overrides):
    """Enter a limit order to buy 10 at 100.00 through the service, with any field overridden."""
    fields = {
        "side": "BUY",
        "quantity": Decimal("10"),
        "order_type": "LMT",
        "limit_price": Decimal("100.00"),
        "source": "admin",
        "via": "test",
    }
    fields.update(overrides)
    return order_submit(actor=actor, account=account, instrument=instrument, **fields)


def row_counts() -> dict[str, int]:
    """Rows of every table a service of the order path writes."""
    return {
        "orders": Order.objects.count(),
        "events": OrderEvent.objects.count(),
        "audit": AuditLog.objects.count(),
        "outbox": OutboxMessage.objects.count(),
        "fills": Fill.objects.count(),
        "positions": Position.objects.count(),
        "lots": PositionLot.objects.count(),
    }
