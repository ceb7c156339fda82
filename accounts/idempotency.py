"""Idempotency keys of the API: one stored outcome per (user, key), kept 24 hours.

The rules (IETF draft ``Idempotency-Key`` header, as Stripe practises it):

- a retry with the same key and the same request gets the first response again;
- the same key while the first request is still running gets 409;
- the same key with another request (method, path or body) gets 422;
- a request that needs a key and has none gets 400.

How it holds under concurrency: the key row is inserted in its own short transaction, then the
request runs inside a transaction that holds the row's lock (``FOR UPDATE NOWAIT``) and writes the
outcome into the row before it commits. The order and its outcome therefore commit together: a
row still "in progress" and not locked belongs to a request that died and committed nothing, so
a retry may run again; a locked row belongs to a request that is running now (409).

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
from django.db import OperationalError, connection, models, transaction
from django.utils import timezone

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
    """Return the row of ``(user, key)``, inserting it "in progress" when it is new; commits at once.

    An expired row (older than 24 hours) is replaced, as if the key had never been used.
    Call it outside any transaction, so a concurrent request sees the row immediately.

    :raises IdempotencyKeyReused: the key was used by this user for a different request.
    """
    now = now or timezone.now()
    table = IdempotencyKey._meta.db_table
    for _attempt in range(2):
        with connection.cursor() as cursor:
            # One round trip for the common case of a new key; a concurrent insert of the same
            # key makes this a no-op and the SELECT below finds the other request's row.
            cursor.execute(
                f"INSERT INTO {table} (user_id, key, fingerprint, status, created_at) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
                [user.pk, key, fingerprint, IdempotencyKey.Status.IN_PROGRESS, now],
            )
            inserted = cursor.fetchone()
        if inserted:
            return IdempotencyKey(
                pk=inserted[0],
                user=user,
                key=key,
                fingerprint=fingerprint,
                created_at=now,
                status=IdempotencyKey.Status.IN_PROGRESS,
            )
        row = IdempotencyKey.objects.filter(user=user, key=key).first()
        if row is None:
            continue  # purged between the INSERT and the SELECT: insert again
        if row.created_at < now - RETENTION:
            IdempotencyKey.objects.filter(pk=row.pk, created_at=row.created_at).delete()
            continue
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReused(field=HEADER)
        return row
    raise IdempotencyKeyInProgress()


def idempotency_key_lock(*, row: IdempotencyKey) -> IdempotencyKey:
    """Lock the key's row for the current transaction and return it fresh.

    Must run inside ``transaction.atomic``; the lock is held until that transaction ends.

    :raises IdempotencyKeyInProgress: another request holds the row (it is running now), or the
        row vanished (purged while we waited).
    """
    # NOWAIT where the database has it (PostgreSQL); SQLite (the quick start) has no row locks:
    # its single writer serializes the requests instead. Plain SQL reading only what may have
    # changed since the claim: the ORM's version of this and of the completion below cost
    # more CPU than the rest of the key's handling (it runs on every order entry).
    features = connection.features
    lock = " FOR UPDATE NOWAIT" if features.has_select_for_update_nowait else ""
    if not lock and features.has_select_for_update:
        lock = " FOR UPDATE"
    try:
        with connection.cursor() as cursor:
            table = IdempotencyKey._meta.db_table
            cursor.execute(f"SELECT status, response_status, response_body FROM {table} WHERE id = %s{lock}", [row.pk])
            found = cursor.fetchone()
    except OperationalError:
        raise IdempotencyKeyInProgress()
    if found is None:
        raise IdempotencyKeyInProgress()
    body_field = IdempotencyKey._meta.get_field("response_body")
    row.status, row.response_status = found[0], found[1]
    row.response_body = body_field.from_db_value(found[2], None, connection)
    return row


def idempotency_key_stored(row: IdempotencyKey) -> StoredResponse | None:
    """Return the response recorded for ``row``, or None while it has none."""
    if row.status != IdempotencyKey.Status.COMPLETE or row.response_status is None:
        return None
    return StoredResponse(status=row.response_status, body=row.response_body)


def idempotency_key_complete(*, row: IdempotencyKey, status: int, body: object) -> None:
    """Record the response of ``row``'s request; call it in the transaction that holds the lock."""
    row.status = IdempotencyKey.Status.COMPLETE
    row.response_status = status
    row.response_body = json.loads(json.dumps(body, cls=DjangoJSONEncoder))
    row.completed_at = timezone.now()
    with connection.cursor() as cursor:
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


def idempotency_key_release(*, row: IdempotencyKey) -> None:
    """Forget ``row`` when its request created nothing, so the key may be used again.

    Only a row still in progress and not locked by a running request is deleted.
    """
    with transaction.atomic():
        free = (
            IdempotencyKey.objects.select_for_update(skip_locked=connection.features.has_select_for_update_skip_locked)
            .filter(pk=row.pk, status=IdempotencyKey.Status.IN_PROGRESS)
            .first()
        )
        if free is not None:
            free.delete()


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys older than the 24-hour retention; return how many went.

    Expired keys are already ignored when a request arrives; this only keeps the table small
    (a housekeeping task may call it hourly).
    """
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
