"""The correlation id: one id per order's path, from the request, task or schedule firing that began it.

A context variable, so each thread and each asyncio task sees its own. The web's request id
(``tradeconsole.request_id``) is the correlation id of what a request starts; Celery carries it
in a task's headers; the outbox row, the command and the worker's events carry it in a ``cid``
field, and each process binds it while it handles the message, so every log line about one
order names the same id (``logclock.structured`` writes it as ``correlation_id``).
"""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

_correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")
# The request id's rule: safe in a header, a log line and a stream field.
_VALID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def current() -> str:
    """Return the correlation id bound in this context, or ``""``."""
    return _correlation_id.get()


def new_id() -> str:
    """Return a fresh correlation id (32 hex digits)."""
    return uuid.uuid4().hex


def well_formed(value: object) -> bool:
    """Whether ``value`` may be used as a correlation id (1-64 of ``A-Z a-z 0-9 . _ -``)."""
    return type(value) is str and _VALID.match(value) is not None


def bind(value: str) -> contextvars.Token:
    """Make ``value`` this context's correlation id; give the token to ``reset`` when done."""
    return _correlation_id.set(value)


def reset(token: contextvars.Token) -> None:
    """Restore the correlation id that ``bind`` replaced."""
    _correlation_id.reset(token)


@contextmanager
def bound(value: str) -> Iterator[str]:
    """Bind ``value`` as it is (``""``: none) for the block; yield it."""
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)


@contextmanager
def correlated(value: str) -> Iterator[str]:
    """Bind ``value`` (a fresh id when empty) for the block; yield the id bound."""
    value = value or new_id()
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)
