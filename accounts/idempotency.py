"""Idempotency keys of the API: one stored outcome per (user, key), kept 24 hours.

The rules (IETF draft ``Idempotency-Key`` header, as Stripe practises it):

- a retry with the same key and the same request gets the first response again;
- the same key while the first request is still running gets 409;
- the same key with another request (method, path or body) gets 422;
- a request that needs a key and has none gets 400.

How it holds under concurrency: the request runs in one transaction that first claims the key
(a transaction-scoped advisory lock on it, and its row inserted "in progress" when new), then
does its work and writes the outcome into the row before it commits. The order and its outcome
therefore commit together, and a request that fails rolls its row back with everything else. A
duplicate that arrives while the first runs cannot take the lock (409); one that arrives after
finds the row complete (the first response again).

Only a request that created something keeps its key: when the input is invalid, the domain
refuses (a risk limit, a halted account) or the server fails, nothing was written and the key is
forgotten, so the caller may send it again (fixed, or later) with the same key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, models
from django.utils import timezone

from tradeconsole import db
from tradeconsole.exceptions import ApplicationError

RETENTION = timedelta(hours=24)
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


class IdempotencyKeyMissing(ApplicationError):
    code = "idempotency.key_missing"
    http_status = 400
    default_message = f"This request needs an {HEADER} header (a unique value per intent, such as a UUID)."


class IdempotencyKeyInvalid(ApplicationError):
    code = "idempotency.key_invalid"
    http_status = 400
    default_message = f"The {HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters."


class IdempotencyKeyInProgress(ApplicationError):
    code = "idempotency.in_progress"
    http_status = 409
    default_message = "A request with this Idempotency-Key is still running; retry when it has finished."


class IdempotencyKeyReused(ApplicationError):
    code = "idempotency.key_reused"
    http_status = 422
    default_message = "This Idempotency-Key was used for a different request."


class IdempotencyKey(models.Model):
    """One idempotency key of one user, with the fingerprint of its request and, once done, its response."""

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETE = "complete", "Complete"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "accounts"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="uniq_idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} ({self.status})"

    @property
    def expires_at(self) -> datetime:
        return self.created_at + RETENTION


@dataclass(frozen=True)
class StoredResponse:
    """The response recorded for a key, to be sent again to a retry."""

    status: int
    body: object


def key_validate(raw: str | None) -> str:
    """Return the key of a request header value.

    :raises IdempotencyKeyMissing: no header, or an empty one.
    :raises IdempotencyKeyInvalid: too long or not printable ASCII.
    """
    if raw is None or not raw.strip():
        raise IdempotencyKeyMissing(field=HEADER)
    key = raw.strip()
    if len(key) > MAX_KEY_LENGTH or not all(32 < ord(char) < 127 for char in key):
        raise IdempotencyKeyInvalid(field=HEADER)
    return key


def request_fingerprint(*, method: str, path: str, body: object) -> str:
    """Return the SHA-256 of a request, insensitive to key order and whitespace in a JSON body."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), cls=DjangoJSONEncoder)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


def idempotency_key_claim(*, user, key: str, fingerprint: str, now: datetime | None = None) -> IdempotencyKey:
    """Claim ``(user, key)`` for the current transaction and return its row: inserted "in progress"
    when the key is new (the row commits or rolls back with the transaction), else the stored one
    (complete: the caller replays it).

    Must run inside ``transaction.atomic``: the claim is held until that transaction ends. An
    expired row (older than 24 hours) is replaced, as if the key had never been used. A row
    committed "in progress" is one that an earlier version of this code claimed in a transaction
    of its own: it is taken over if no running request holds its row lock.

    :raises IdempotencyKeyInProgress: a running request holds the key (409).
    :raises IdempotencyKeyReused: the key was used by this user for a different request.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("idempotency_key_claim() must run inside a transaction.")
    now = now or timezone.now()
    table = IdempotencyKey._meta.db_table
    insert = (
        f"INSERT INTO {table} (user_id, key, fingerprint, status, created_at)"
        " SELECT %s, %s, %s, %s, %s{source} ON CONFLICT (user_id, key) DO NOTHING RETURNING id"
    )
    values = [
        user.pk,
        key,
        fingerprint,
        IdempotencyKey.Status.IN_PROGRESS,
        connection.ops.adapt_datetimefield_value(now),
    ]
    for _attempt in range(2):
        with db.cursor() as cursor:
            if connection.vendor == "postgresql":
                # The lock and the insert in one round trip (it runs on every order entry). While
                # a running request holds the lock, its uncommitted row cannot block this INSERT:
                # the INSERT only runs once the lock is ours.
                cursor.execute(
                    "WITH claim AS (SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 413)) AS held),"
                    f" inserted AS ({insert.format(source=' FROM claim WHERE held')})"
                    " SELECT held, (SELECT id FROM inserted) FROM claim",
                    [f"idem:{user.pk}:{key}", *values],
                )
                held, inserted = cursor.fetchone()
            else:
                # SQLite (the quick start) has no advisory locks; its single writer serializes
                # the transactions instead.
                cursor.execute(insert.format(source=""), values)
                found = cursor.fetchone()
                held, inserted = True, (found[0] if found else None)
        if inserted is not None:
            return IdempotencyKey(
                pk=inserted,
                user=user,
                key=key,
                fingerprint=fingerprint,
                created_at=now,
                status=IdempotencyKey.Status.IN_PROGRESS,
            )
        if not held:
            return _claimed_elsewhere(user=user, key=key, fingerprint=fingerprint, now=now)
        try:
            # The lock is ours, so no request of this version holds the row; one of an earlier
            # version may still hold its row lock while it runs.
            row = db.select_one(IdempotencyKey, "user_id = %s AND key = %s", [user.pk, key], lock=True, nowait=True)
        except OperationalError:
            raise IdempotencyKeyInProgress()
        if row is None:
            continue  # purged between the INSERT and the SELECT: insert again
        if row.created_at < now - RETENTION:
            IdempotencyKey.objects.filter(pk=row.pk).delete()
            continue
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(field=HEADER)
        return row
    raise IdempotencyKeyInProgress()


def _claimed_elsewhere(*, user, key: str, fingerprint: str, now: datetime) -> IdempotencyKey:
    """Return the stored row of a key that another transaction holds now, when its answer is
    already known (a finished request that a concurrent retry is replaying).

    :raises IdempotencyKeyReused: the stored row is of a different request.
    :raises IdempotencyKeyInProgress: the key's first request is still running (its row is not
        committed yet, so its body is not known either).
    """
    row = IdempotencyKey.objects.filter(user=user, key=key, created_at__gte=now - RETENTION).first()
    if row is not None and row.fingerprint != fingerprint:
        raise IdempotencyKeyReused(field=HEADER)
    if row is not None and row.status == IdempotencyKey.Status.COMPLETE:
        return row
    raise IdempotencyKeyInProgress()


def idempotency_key_stored(row: IdempotencyKey) -> StoredResponse | None:
    """Return the response recorded for ``row``, or None while it has none."""
    if row.status != IdempotencyKey.Status.COMPLETE or row.response_status is None:
        return None
    return StoredResponse(status=row.response_status, body=row.response_body)


def idempotency_key_complete(*, row: IdempotencyKey, status: int, body: object) -> None:
    """Record the response of ``row``'s request; call it in the transaction that claimed the key."""
    row.status = IdempotencyKey.Status.COMPLETE
    row.response_status = status
    row.response_body = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    row.completed_at = timezone.now()
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {IdempotencyKey._meta.db_table}"
            " SET status = %s, response_status = %s, response_body = %s, completed_at = %s WHERE id = %s",
            [
                row.status,
                row.response_status,
                connection.ops.adapt_json_value(row.response_body, None),
                connection.ops.adapt_datetimefield_value(row.completed_at),
                row.pk,
            ],
        )


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys older than the 24-hour retention; return how many went.

    Expired keys are already ignored when a request arrives; this only keeps the table small
    (a housekeeping task may call it hourly).
    """
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
