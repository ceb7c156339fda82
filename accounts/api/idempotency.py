"""Idempotent handling of a DRF request that creates something (``Idempotency-Key`` header)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import transaction
from rest_framework.response import Response

from accounts.idempotency import (
    HEADER,
    idempotency_key_claim,
    idempotency_key_complete,
    idempotency_key_stored,
    key_validate,
    request_fingerprint,
)
from tradeconsole.exceptions import PROBLEM_CONTENT_TYPE

REPLAYED_HEADER = "Idempotent-Replayed"


def _replay(status: int, body: Any) -> Response:
    content_type = PROBLEM_CONTENT_TYPE if status >= 400 else None
    response = Response(body, status=status, content_type=content_type)
    response[REPLAYED_HEADER] = "true"
    return response


def idempotent(request, *, validate: Callable[[], Any], perform: Callable[[Any], Response]) -> Response:
    """Run ``perform(validate())`` at most once per (user, ``Idempotency-Key``) and return its response.

    A retry with the same key and body gets the stored response (header ``Idempotent-Replayed``).
    The key is claimed, ``validate`` and ``perform`` run, and the response is recorded in one
    transaction, so what ``perform`` writes and the stored response commit together. When
    ``validate`` or ``perform`` raises (invalid input, a domain refusal, a crash) the transaction
    rolls back, the key's row with it: nothing was created, the key is forgotten and the error
    propagates to the exception handler.

    :raises IdempotencyKeyMissing, IdempotencyKeyInvalid: no usable header (400).
    :raises IdempotencyKeyReused: the key was used for another request (422).
    :raises IdempotencyKeyInProgress: a request with this key is running (409).
    """
    key = key_validate(request.headers.get(HEADER))
    fingerprint = request_fingerprint(method=request.method, path=request.path, body=request.data)
    with transaction.atomic():
        row = idempotency_key_claim(user=request.user, key=key, fingerprint=fingerprint)
        stored = idempotency_key_stored(row)
        if stored is not None:
            return _replay(stored.status, stored.body)
        response = perform(validate())
        idempotency_key_complete(row=row, status=response.status_code, body=response.data)
    return response
