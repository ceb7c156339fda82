"""The audit log: one row per change, written in the change's own transaction."""

from __future__ import annotations

from django.db import models

from accounts.announce import announce_object
from accounts.models import AuditLog, BrokerAccount, User
from accounts.services.common import actor_or_none, jsonable
from tradeconsole import db
from tradeconsole.request_id import current_request_id


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
    The row itself is announced too: the live pages' notices (a fill, a reject, a halt, the kill
    switch) are made from it.
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
    announce_object(entry)
    return entry
