"""Scheduled orders: order templates fired at a time of day, and their runs, one per trading date."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import BrokerAccount
from orders.models.amounts import PRICE, QUANTITY
from orders.models.choices import OrderType, Side, TimeInForce
from orders.models.instruments import Instrument
from orders.models.orders import Order


class ScheduledOrder(models.Model):
    """An order template fired at a local time of day on trading days (firing: ``tasks``)."""

    name = models.CharField(max_length=100)
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="scheduled_orders")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(**QUANTITY)
    order_type = models.CharField(max_length=8, choices=OrderType.choices, default=OrderType.MARKET)
    limit_price = models.DecimalField(null=True, blank=True, **PRICE)
    stop_price = models.DecimalField(null=True, blank=True, **PRICE)
    tif = models.CharField("time in force", max_length=4, choices=TimeInForce.choices, default=TimeInForce.DAY)
    strategy = models.ForeignKey(
        "strategies.Strategy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    time_of_day = models.TimeField()
    time_zone = models.CharField(max_length=64, default="America/New_York")
    weekdays = models.CharField(max_length=16, default="0,1,2,3,4", help_text="Monday=0 … Sunday=6, comma-separated")
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    exchange_calendar = models.CharField(max_length=16, default="XNYS")
    grace_seconds = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["time_of_day", "name"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="scheduled_quantity_positive")]

    def __str__(self) -> str:
        return self.name


class ScheduledOrderRun(models.Model):
    """One occurrence of a scheduled order on one trading date; unique, so it fires at most once."""

    class Status(models.TextChoices):
        FIRED = "fired", "Fired"
        MISSED = "missed", "Missed"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Refused"

    schedule = models.ForeignKey(ScheduledOrder, on_delete=models.PROTECT, related_name="runs")
    trading_date = models.DateField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices)
    order = models.OneToOneField(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="scheduled_run")
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at"]
        constraints = [models.UniqueConstraint(fields=["schedule", "trading_date"], name="uniq_schedule_run_per_date")]

    def __str__(self) -> str:
        return f"{self.schedule} {self.trading_date} {self.status}"
