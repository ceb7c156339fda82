"""Instruments: the contracts the desk may trade."""

from __future__ import annotations

from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models

from orders.models.amounts import PRICE, QUANTITY


class Instrument(models.Model):
    """A contract the desk may trade (US stocks for now)."""

    symbol = models.CharField(max_length=32)
    sec_type = models.CharField(max_length=8, default="STK")
    exchange = models.CharField(max_length=16, default="SMART")
    primary_exchange = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    con_id = models.BigIntegerField("IB contract id", null=True, blank=True, unique=True)
    min_tick = models.DecimalField(
        default=Decimal("0.01"), validators=[MinValueValidator(Decimal("0.000001"))], **PRICE
    )
    multiplier = models.PositiveIntegerField(default=1)
    # Whole shares unless the instrument says otherwise (IB's ContractDetails minSize, sizeIncrement).
    min_quantity = models.DecimalField(
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="The smallest quantity an order may have.",
        **QUANTITY,
    )
    quantity_increment = models.DecimalField(
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="An order's quantity is a whole number of this increment.",
        **QUANTITY,
    )
    description = models.CharField(max_length=128, blank=True)
    active = models.BooleanField(default=True)
    last_price = models.DecimalField(null=True, blank=True, help_text="Reference price for the collar", **PRICE)
    last_price_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "sec_type", "exchange", "currency"], name="uniq_instrument"),
        ]

    def __str__(self) -> str:
        return self.symbol
