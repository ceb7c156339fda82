"""Positions: the book of one account in one instrument, its open FIFO lots, and the account's PnL curve."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from accounts.models import BrokerAccount
from orders.models.amounts import MONEY, PRICE, QUANTITY
from orders.models.fills import Fill
from orders.models.instruments import Instrument
from tradeconsole.clock import desk_time


class Position(models.Model):
    """The book's position of one account in one instrument, following fills (FIFO)."""

    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="positions")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="positions")
    quantity = models.DecimalField(default=Decimal("0"), **QUANTITY)
    average_cost = models.DecimalField(default=Decimal("0"), **PRICE)
    realized_pnl = models.DecimalField("realized PnL", default=Decimal("0"), **MONEY)
    broker_quantity = models.DecimalField(
        null=True, blank=True, help_text="Last quantity the broker reported", **QUANTITY
    )
    broker_average_cost = models.DecimalField(null=True, blank=True, **PRICE)
    broker_reported_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "instrument"]
        constraints = [models.UniqueConstraint(fields=["account", "instrument"], name="uniq_position")]

    def __str__(self) -> str:
        return f"{self.account} {self.instrument} {self.quantity.normalize():f}"


class PositionLot(models.Model):
    """An open FIFO lot of a position: what is left of one opening fill."""

    position = models.ForeignKey(Position, on_delete=models.CASCADE, related_name="lots")
    fill = models.ForeignKey(Fill, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(help_text="Signed: positive long, negative short", **QUANTITY)
    price = models.DecimalField(**PRICE)
    opened_at = models.DateTimeField()

    class Meta:
        ordering = ["opened_at", "id"]

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} @ {self.price.normalize():f}"


class PnLPoint(models.Model):
    """A point of an account's intraday PnL curve, stored by the monitoring loop."""

    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="pnl_points")
    at = models.DateTimeField(db_index=True)
    realized_pnl = models.DecimalField("realized PnL", **MONEY)
    unrealized_pnl = models.DecimalField("unrealized PnL", **MONEY)

    class Meta:
        ordering = ["account", "at"]
        indexes = [models.Index(fields=["account", "at"])]
        verbose_name = "PnL point"

    def __str__(self) -> str:
        return f"{self.account} {desk_time(self.at, '%Y-%m-%d %H:%M')} {self.total_pnl.normalize():f}"

    @property
    def total_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl
