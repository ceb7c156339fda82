"""Fills: executions unique by IB's execId, and commission reports waiting for their execution."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from accounts.models import BrokerAccount
from orders.models.amounts import MONEY, PRICE, QUANTITY
from orders.models.choices import Side
from orders.models.instruments import Instrument
from orders.models.orders import Order


class Fill(models.Model):
    """One execution, unique by IB's ``execId``."""

    exec_id = models.CharField("IB execution id", max_length=64, unique=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="fills")
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="fills")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="fills")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(**QUANTITY)
    price = models.DecimalField(**PRICE)
    executed_at = models.DateTimeField(db_index=True)
    commission = models.DecimalField(null=True, blank=True, **MONEY)
    commission_currency = models.CharField(max_length=3, blank=True)
    broker_realized_pnl = models.DecimalField("broker's realized PnL", null=True, blank=True, **MONEY)
    realized_pnl = models.DecimalField(
        "realized PnL", default=Decimal("0"), help_text="FIFO realized PnL of this fill", **MONEY
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="fill_quantity_positive")]
        indexes = [models.Index(fields=["account", "instrument", "executed_at"])]

    def __str__(self) -> str:
        return f"{self.exec_id} {self.side} {self.quantity.normalize():f} @ {self.price.normalize():f}"


class PendingCommission(models.Model):
    """IB's commission report for an execution not recorded yet; ``fill_record`` attaches and deletes it.

    Commission reports may reach the bridge before their execution (redelivered or claimed
    entries are applied after newer ones); keeping them here means none is lost.
    """

    exec_id = models.CharField("IB execution id", max_length=64, unique=True)
    commission = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, blank=True)
    realized_pnl = models.DecimalField("realized PnL", null=True, blank=True, **MONEY)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"commission of {self.exec_id}"
