"""Order events: an order's append-only history, and the enumeration of what can happen to it."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from execution_worker import messages as contract
from orders.models.orders import Order


class OrderEventKind(models.TextChoices):
    """What happened to an order: the one list of the kinds an ``OrderEvent`` is written with.

    An event the bridge applies keeps the stream message's type as its kind, taken from the
    contract (``execution_worker.messages``); the other kinds are the console's own. The values
    are the strings stored since the table exists. A row of a kind no longer listed (written by
    an older version) is still read and shown, with its stored string as its label.
    """

    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    APPROVAL_REFUSED = "approval_refused", "Approval refused"
    CANCELLED = "cancelled", "Cancelled"
    CANCEL_REQUESTED = "cancel_requested", "Cancel requested"
    MODIFY_REQUESTED = "modify_requested", "Modify requested"
    # The worker or the broker refused a command about a working order (``<action>_rejected``).
    MODIFY_REJECTED = "modify_rejected", "Modify rejected"
    CANCEL_REJECTED = "cancel_rejected", "Cancel rejected"
    ACCEPTED = contract.OrderAccepted.TYPE, "Accepted by the broker"
    REJECTED = contract.OrderRejected.TYPE, "Rejected"
    STATUS = contract.OrderStatus.TYPE, "Broker status"
    FILLED = contract.OrderFilled.TYPE, "Filled"
    UNKNOWN = contract.OrderUnknown.TYPE, "Outcome unknown"
    FILL_CORRECTED = "fill.corrected", "Fill corrected"
    RECORDED_FROM_BROKER = "recorded_from_broker", "Recorded from the broker"
    MONITOR_PROTECT = "monitor.protect", "Protective order (monitor)"
    MONITOR_REPRICED = "monitor.repriced", "Repriced (monitor)"
    MONITOR_REPLACED = "monitor.replaced", "Replaced (monitor)"
    MONITOR_NOT_REPLACED = "monitor.not_replaced", "Not replaced (monitor)"
    MONITOR_REPLACEMENT_OF = "monitor.replacement_of", "Replacement of a rejected order (monitor)"


class OrderEvent(models.Model):
    """Append-only history of an order: every transition and every broker message about it.

    ``message_id`` is the stream message that caused it, unique so a redelivered event is a no-op.
    ``applied`` is False for an event that was recorded and ignored (a backward move, a duplicate).
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # No database constraint: rows of a kind an older version wrote stay readable.
    kind = models.CharField(max_length=32, choices=OrderEventKind.choices, help_text="What happened")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    applied = models.BooleanField(default=True)
    message_id = models.UUIDField(null=True, blank=True, unique=True)
    detail = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}→{self.to_status}"
