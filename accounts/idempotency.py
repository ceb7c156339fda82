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
from datetime import datetime

from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection
from django.utils import timezone

from accounts import sql
from accounts.models import IdempotencyKey
from tradeconsole.exceptions import ApplicationError

RETENTION = IdempotencyKey.RETENTION
HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = IdempotencyKey.MAX_KEY_LENGTH


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
    for _attempt in range(2):
        held, inserted = sql.idempotency_key_insert(
            user_id=user.pk, key=key, fingerprint=fingerprint, status=IdempotencyKey.Status.IN_PROGRESS, created_at=now
        )
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
            row = sql.idempotency_key_lock(user_id=user.pk, key=key)
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
    sql.idempotency_key_write_response(
        pk=row.pk,
        status=row.status,
        response_status=row.response_status,
        response_body=row.response_body,
        completed_at=row.completed_at,
    )


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys older than the 24-hour retention; return how many went.

    Expired keys are already ignored when a request arrives; this only keeps the table small
    (a housekeeping task may call it hourly).
    """
    cutoff = (now or timezone.now()) - RETENTION
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
