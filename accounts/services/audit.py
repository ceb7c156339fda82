"""The audit log: one row per change, written in the change's own transaction."""

from __future__ import annotations

from django.db import models

from accounts.announce import announce_object
from accounts.models import AuditLog, BrokerAccount, User
from accounts.services.common import actor_or_none, jsonable
from tradeconsole import db
from tradeconsole.request_id import current_request_id

# The changes people are told of as they happen (the live pages' toasts, ``streams.notices``): a
# fill, an account halted or resumed, the kill switch (with a desk flatten beside it), a modify or a
# cancel the broker refused, and an order that became rejected. Only their rows are announced, so
# every other audited change (each order's entry among them) costs the publishing process no read
# of its audit row.
TOLD_ACTIONS = frozenset(
    {
        "fill.record",
        "account.halt",
        "account.resume",
        "kill_switch.engage",
        "kill_switch.release",
        "desk.flatten",
        "order.modify_rejected",
        "order.cancel_rejected",
    }
)
REJECTED = "REJECTED"


def audit_told(*, action: str, object_type: str, before: dict | None, after: dict | None) -> bool:
    """Whether an audit row of this change is one people are told of (``TOLD_ACTIONS``, or an order
    whose status became ``REJECTED``)."""
    if action in TOLD_ACTIONS:
        return True
    return (
        object_type == "orders.order"
        and (after or {}).get("status") == REJECTED
        and (before or {}).get("status") != REJECTED
    )


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model,
    account: BrokerAccount | None = None,
    before: dict | None = None,
    after: dict | None = None,
    via: str = "",
) -> AuditLog:
    """Append one audit row for a change, carrying the current request id.

    Call it inside the transaction of the change, so the row exists exactly when the change does.
    The audited object is announced with it (``accounts.announce``): the live pages show it on commit.
    The row itself is announced too when people are told of the change (``audit_told``): the live
    pages' notices (a fill, a reject, a halt, the kill switch) are made from it.
    """
    announce_object(obj)
    entry = db.insert(
        AuditLog(
            actor=actor_or_none(actor),
            action=action,
            object_type=obj._meta.label_lower,
            object_id=str(obj.pk),
            account=account,
            before=jsonable(before) if before is not None else None,
            after=jsonable(after) if after is not None else None,
            request_id=current_request_id(),
            via=via[:16],
        )
    )
    if audit_told(action=action, object_type=entry.object_type, before=entry.before, after=entry.after):
        announce_object(entry)
    return entry
