"""Commands the worker dead-lettered: each becomes a visible state of its order, with an alert."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction

from accounts.models import Alert
from accounts.services import alert_raise
from orders.models import Order, OrderEvent, OrderStatus
from orders.services.broker_events import order_mark_command_rejected, order_mark_unknown

# The worker refused to decode these: it never acted on the command.
DECODE_REFUSAL_PREFIX = "message."
ACTIONS = ("place", "cancel", "modify")


@transaction.atomic
def order_command_dead_lettered(
    *, client_order_id: Any, action: str, code: str, reason: str, message_id: Any = None
) -> Order | None:
    """Record that the worker dead-lettered the ``action`` command of an order, so the desk sees it.

    A command the worker could not decode (``message.*``) had no effect at all; one that kept
    failing inside the worker (``worker.failed``) may have reached TWS. So:

    - ``place``: undecodable → ``REJECTED`` with the code; failed inside → ``SUBMIT_UNKNOWN``
      (invariant 3: only reconciliation settles it).
    - ``cancel``: an order in ``CANCEL_REQUESTED`` goes back to its working state (the one
      backward move ``orders.transitions`` allows, for a refused cancel) and the
      ``order.cancel_refused`` alert names it; a clean cancel can then be asked again. If the
      broker did cancel after all, its ``Cancelled`` status still moves the order on.
    - ``modify``: the pending quantity is cleared and the prior prices restored.

    Every case records an order event with the code and reason, and a place or modify raises an
    ``order.command_failed`` alert naming the order (a cancel's alert is ``order.cancel_refused``).
    Idempotent by ``message_id`` (the command's id: the relay republishes a command under its
    id, so its copies are dead-lettered under it too). Returns None for an unknown order.

    :raises OrderInvalid: ``action`` is not place, cancel or modify.
    """
    if message_id is not None and OrderEvent.objects.filter(message_id=message_id).exists():
        return Order.objects.filter(client_order_id=client_order_id).first()
    reason = f"dead-lettered by the worker: {reason}"[:500]
    undecodable = code.startswith(DECODE_REFUSAL_PREFIX)
    if action == "place" and not undecodable:
        return order_mark_unknown(client_order_id=client_order_id, reason=f"{code}: {reason}", message_id=message_id)
    order = order_mark_command_rejected(
        client_order_id=client_order_id, action=action, code=code, reason=reason, message_id=message_id
    )
    if order is None or action == "cancel":
        return order
    what = "order" if action == "place" else "modify of the order"
    outcome = "it was not sent" if order.status == OrderStatus.REJECTED else "it was not applied"
    alert_raise(
        key=f"order.command_failed:{order.client_order_id}:{message_id or uuid.uuid4()}",
        kind="order.command_failed",
        severity=Alert.Severity.WARNING,
        account=order.account,
        message=f"The {what} {order} could not be carried out by the worker; {outcome}: {code}: {reason}"[:500],
        data={"client_order_id": str(order.client_order_id), "action": action, "code": code},
    )
    return order
