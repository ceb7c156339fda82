"""What an order says of itself: side, type, time in force (built from the stream contract), source, OCA type, state."""

from __future__ import annotations

from django.db import models

from execution_worker import messages as contract


def _contract_choices(name: str, labels: dict[str, str], member=lambda value, label: value) -> type[models.TextChoices]:
    """TextChoices of one of the stream contract's enumerations: its values and labels, in its order."""
    members = [(member(value, label), (value, label)) for value, label in labels.items()]
    return models.TextChoices(name, members, module=__name__)


# Built from the contract (execution_worker.messages) so a new side, order type or TIF is written once.
Side = _contract_choices("Side", contract.SIDE_LABELS)
# Members are named from the label: MARKET, LIMIT, STOP, STOP_LIMIT.
OrderType = _contract_choices(
    "OrderType", contract.ORDER_TYPE_LABELS, lambda value, label: label.upper().replace(" ", "_")
)
TimeInForce = _contract_choices("TimeInForce", contract.TIF_LABELS)


class OrderSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    SCHEDULER = "scheduler", "Scheduler"
    MONITOR = "monitor", "Monitor"
    STRATEGY = "strategy", "Strategy"
    EXTERNAL = "external", "External (placed in TWS)"


class OcaType(models.IntegerChoices):
    """IB's ``ocaType``: what a fill of one order of an OCA group does to the others, at the broker."""

    CANCEL = 1, "Cancel the others (with block)"
    REDUCE_BLOCK = 2, "Reduce the others (with block)"
    REDUCE = 3, "Reduce the others (no block)"


class OrderStatus(models.TextChoices):
    """The order states; ``orders.transitions`` says which moves are allowed."""

    PENDING_APPROVAL = "PENDING_APPROVAL", "Pending approval"
    NEW = "NEW", "New"
    SUBMITTING = "SUBMITTING", "Submitting"
    SUBMITTED = "SUBMITTED", "Submitted"
    PARTIALLY_FILLED = "PARTIALLY_FILLED", "Partially filled"
    FILLED = "FILLED", "Filled"
    CANCEL_REQUESTED = "CANCEL_REQUESTED", "Cancel requested"
    CANCELLED = "CANCELLED", "Cancelled"
    REJECTED = "REJECTED", "Rejected"
    INACTIVE = "INACTIVE", "Inactive"
    SUBMIT_UNKNOWN = "SUBMIT_UNKNOWN", "Submitted, outcome unknown"
