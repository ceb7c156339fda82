"""Strategies and the trading sessions in which they run on an account."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from accounts.models import BrokerAccount

MONEY = {"max_digits": 20, "decimal_places": 4}


class Strategy(models.Model):
    """A named trading strategy with validated parameters and the accounts it may trade."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    accounts = models.ManyToManyField(BrokerAccount, blank=True, related_name="strategies")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "strategies"

    def __str__(self) -> str:
        return self.name


class TradingSession(models.Model):
    """A strategy running on one account, with its controls and metrics."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="sessions")
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="trading_sessions")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    starting_equity = models.DecimalField(null=True, blank=True, **MONEY)
    realized_pnl = models.DecimalField(default=Decimal("0"), **MONEY)
    unrealized_pnl = models.DecimalField(default=Decimal("0"), **MONEY)
    max_drawdown = models.DecimalField(default=Decimal("0"), **MONEY)
    peak_pnl = models.DecimalField(default=Decimal("0"), **MONEY)
    trade_count = models.PositiveIntegerField(default=0)
    win_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.strategy} on {self.account} ({self.status})"
