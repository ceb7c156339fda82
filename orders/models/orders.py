"""Orders: one order intent from entry to its final state."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from accounts.models import BrokerAccount
from orders.models.amounts import PRICE, QUANTITY
from orders.models.choices import OcaType, OrderSource, OrderStatus, OrderType, Side, TimeInForce
from orders.models.instruments import Instrument


class Order(models.Model):
    """One order intent, from entry to its final state.

    ``client_order_id`` is created with the intent, never changes, travels in every message and
    is IB's ``Order.orderRef``.
    """

    client_order_id = models.UUIDField("client order id", default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="orders")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(**QUANTITY)
    order_type = models.CharField(max_length=8, choices=OrderType.choices, default=OrderType.LIMIT)
    limit_price = models.DecimalField(null=True, blank=True, **PRICE)
    stop_price = models.DecimalField(null=True, blank=True, **PRICE)
    tif = models.CharField("time in force", max_length=4, choices=TimeInForce.choices, default=TimeInForce.DAY)
    outside_rth = models.BooleanField("outside regular trading hours", default=False)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="The parent of a bracket's child orders.",
    )
    oca_group = models.CharField("OCA group", max_length=64, blank=True)
    oca_type = models.PositiveSmallIntegerField(
        "OCA type",
        null=True,
        blank=True,
        choices=OcaType.choices,
        help_text="What a fill in the OCA group does to the other orders at the broker (blank: TWS's default, 3).",
    )
    not_before = models.DateTimeField(null=True, blank=True, help_text="Do not send before this time.")
    source = models.CharField(max_length=16, choices=OrderSource.choices, default=OrderSource.ADMIN)
    trading_session = models.ForeignKey(
        "strategies.TradingSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    basket = models.ForeignKey(
        "orders.Basket",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text="The basket the order was sent in.",
    )
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW, db_index=True)
    ib_order_id = models.IntegerField("IB order id", null=True, blank=True)
    perm_id = models.BigIntegerField("IB perm id", null=True, blank=True, db_index=True)
    broker_status = models.CharField(max_length=32, blank=True, help_text="IB's last status word")
    filled_quantity = models.DecimalField(default=Decimal("0"), **QUANTITY)
    average_fill_price = models.DecimalField(null=True, blank=True, **PRICE)
    reject_code = models.CharField(max_length=64, blank=True)
    reject_reason = models.CharField(max_length=500, blank=True)
    # A modify the broker has not answered yet (see ``orders.services.order_modify``): a new quantity
    # waits apart until the broker confirms it; new prices apply at once, the prior ones kept to
    # be restored if the broker refuses.
    pending_quantity = models.DecimalField(null=True, blank=True, help_text="Requested, unconfirmed", **QUANTITY)
    modify_prior = models.JSONField(default=dict, blank=True, help_text="Prices before an unconfirmed modify")
    modify_requested_at = models.DateTimeField(null=True, blank=True)
    # Said on the blotter's row and the order's page: a refused modify otherwise looks like a confirmed one.
    modify_refusal = models.CharField(
        max_length=500, blank=True, help_text="The last refusal of a modify (code: reason), until the next modify"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(condition=models.Q(filled_quantity__gte=0), name="order_filled_not_negative"),
        ]
        indexes = [
            models.Index(fields=["account", "status"]),
            # The duplicate guard's and the rate limit's reads: an account's orders of the last seconds.
            models.Index(fields=["account", "created_at"], name="order_account_created"),
        ]
        permissions = [("approve_order", "Can approve orders awaiting approval")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity.normalize():f} {self.instrument} ({self.status})"

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity
