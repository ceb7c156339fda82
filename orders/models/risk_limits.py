"""Risk limits: an account's pre-trade limits and the policies the monitoring loop applies."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from accounts.models import BrokerAccount
from orders.models.amounts import MONEY, QUANTITY
from orders.models.instruments import Instrument


class RiskLimit(models.Model):
    """Pre-trade limits of one account, checked by ``order_submit`` and again by the worker."""

    account = models.OneToOneField(BrokerAccount, on_delete=models.CASCADE, related_name="risk_limit")
    max_order_quantity = models.DecimalField(default=Decimal("1000"), **QUANTITY)
    max_order_notional = models.DecimalField(default=Decimal("100000"), **MONEY)
    max_position = models.DecimalField(
        default=Decimal("5000"), help_text="Absolute quantity per instrument", **QUANTITY
    )
    max_daily_loss = models.DecimalField(default=Decimal("10000"), **MONEY)
    price_collar_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("5.00"),
        help_text="A limit price may be at most this % away from the last price.",
    )
    orders_per_minute = models.PositiveIntegerField(default=60)
    approval_above_notional = models.DecimalField(
        null=True,
        blank=True,
        help_text="Orders above this notional wait for a risk manager's approval; empty: never.",
        **MONEY,
    )
    allowed_instruments = models.ManyToManyField(
        Instrument, blank=True, related_name="+", help_text="Empty means every active instrument."
    )
    # Policies the monitoring loop applies (a strategy's parameters of the same names override them).
    stop_loss_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Protect every position with a stop this % beyond its average cost; empty: no stop.",
    )
    take_profit_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Protect every position with a take-profit limit this % beyond its average cost; empty: none.",
    )
    stale_order_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="A limit order working longer than this is stale; empty: never."
    )
    stale_order_action = models.CharField(
        max_length=8, choices=[("reprice", "Re-price toward the touch"), ("cancel", "Cancel")], default="reprice"
    )
    stale_reprice_max = models.PositiveIntegerField(
        default=3, help_text="Re-price a stale order at most this many times, then cancel it."
    )
    reject_retry_max = models.PositiveIntegerField(
        default=0, help_text="Re-place an order rejected for a transient reason at most this many times."
    )
    duplicate_window_seconds = models.PositiveIntegerField(
        default=30,
        help_text="An order a person enters that is identical to one they entered on this account this many "
        "seconds before needs a confirmation (API: allow_duplicate); 0: never.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Risk limits of {self.account}"
