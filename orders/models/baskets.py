"""Baskets: a list of orders a person entered and sent as one (``orders.services.baskets``)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from accounts.models import BrokerAccount


class Basket(models.Model):
    """Orders of one account entered together, checked all or nothing, cancellable together.

    ``client_basket_id`` is the sender's id of the basket: the same id sent again returns the
    basket already entered, never a second one. The orders name it (``Order.basket``); its
    progress is theirs (``orders.selectors_baskets.basket_progress``).
    """

    class Status(models.TextChoices):
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"

    client_basket_id = models.UUIDField("client basket id", default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100, blank=True)
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="baskets")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="baskets"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Basket {self.name or self.pk} ({self.account.code})"
