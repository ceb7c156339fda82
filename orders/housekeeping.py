"""Retention: delete the technical rows that have outlived their use, once an hour (Celery beat).

What goes, and why it is safe:
- API idempotency keys older than 24 hours: the API promises a key for 24 hours, and a request
  already treats an older key as new (``accounts.idempotency``).
- Expired API tokens: a request with one is refused (and deletes it), so the row only takes room.
- Outbox rows the worker acknowledged more than ``HOUSEKEEPING_OUTBOX_DAYS`` ago: the relay
  publishes only unpublished rows and re-publishes only unacknowledged ones, so an acknowledged
  row is never read again; the order's events and audit rows remain the record. Rows never
  acknowledged are kept whatever their age: the monitoring loop raises them.
- Commission reports whose execution has not arrived after ``HOUSEKEEPING_COMMISSION_DAYS``:
  the bridge keeps them so an execution redelivered late still gets its commission; one that
  old will not come, and each is logged with its exec_id before it goes.

These are retention deletes of rows that describe no change to the desk, so they write no audit
row; each run's counts are logged and returned.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from accounts.idempotency import idempotency_keys_purge
from accounts.models import OutboxMessage
from orders.models import PendingCommission

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HousekeepingReport:
    idempotency_keys: int
    api_tokens: int
    outbox_messages: int
    pending_commissions: int

    def as_dict(self) -> dict:
        return asdict(self)


def housekeeping_run(*, now: datetime | None = None) -> HousekeepingReport:
    """Delete expired idempotency keys and API tokens, old acknowledged outbox rows and orphan
    commission reports.

    Each kind is deleted in its own transaction, so a failure leaves the others done; running it
    twice, or in two workers at once, deletes nothing twice.
    """
    now = now or timezone.now()
    keys = idempotency_keys_purge(now=now)
    with transaction.atomic():
        tokens, _ = AuthToken.objects.filter(expiry__lt=now).delete()
    with transaction.atomic():
        outbox, _ = OutboxMessage.objects.filter(
            acknowledged_at__lt=now - timedelta(days=settings.HOUSEKEEPING_OUTBOX_DAYS)
        ).delete()
    with transaction.atomic():
        orphans = list(
            PendingCommission.objects.select_for_update()
            .filter(received_at__lt=now - timedelta(days=settings.HOUSEKEEPING_COMMISSION_DAYS))
            .values_list("pk", "exec_id")
        )
        for _, exec_id in orphans:
            log.warning("commission report for execution %s never matched an execution; deleted", exec_id)
        PendingCommission.objects.filter(pk__in=[pk for pk, _ in orphans]).delete()
    report = HousekeepingReport(
        idempotency_keys=keys, api_tokens=tokens, outbox_messages=outbox, pending_commissions=len(orphans)
    )
    log.info("housekeeping: %s", report.as_dict())
    return report
