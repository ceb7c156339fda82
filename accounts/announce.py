"""Announcements of committed changes: a service names what it changed, receivers hear it on commit.

A service calls ``announce(kind, key)`` inside its transaction (``kind`` is the changed model's
``label_lower``, ``key`` its primary key). When the transaction commits, the ``changed`` signal
is sent once with every announcement of the transaction, so receivers (``streams.publish``
turns them into live-page rows) learn of committed changes only, coalesced. Work rolled back to
a savepoint is not announced; outside a transaction an announcement is sent at once.

This module sits in the root app so that every domain app may announce without knowing who
listens: dependencies point from ``streams`` to the domain apps, never back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Sent after a commit with ``changes``: {(kind, key): producer time in ns since the epoch, or None}.
changed = Signal()

_local = threading.local()


class _Hook:
    """The announcements of one transaction (savepoints included) and the on-commit call that sends them."""

    def __init__(self) -> None:
        self.changes: dict[tuple[str, object], int | None] = {}
        self.spent = False

    def __call__(self) -> None:
        self.spent = True
        changes, self.changes = self.changes, {}
        if changes:
            announce_now(changes)


def announce(kind: str, key: object) -> None:
    """Announce that row ``key`` of ``kind`` changed: receivers of ``changed`` hear it when this transaction commits."""
    stamp = getattr(_local, "stamp", None)
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        announce_now({(kind, key): stamp})
        return
    hook = getattr(_local, "hook", None)
    # Django drops a hook registered inside a savepoint that rolls back, with the announcements it
    # holds (they were rolled back too): a fresh one then takes the announcements that follow.
    if hook is None or hook.spent or not any(func is hook for _, func, _ in connection.run_on_commit):
        hook = _local.hook = _Hook()
        transaction.on_commit(hook, robust=True)
    previous = hook.changes.get((kind, key))
    hook.changes[(kind, key)] = stamp if previous is None else max(previous, stamp or 0)


def announce_object(*objs) -> None:
    """Announce that each model instance of ``objs`` changed (see ``announce``)."""
    for obj in objs:
        announce(obj._meta.label_lower, obj.pk)


def announce_now(changes: dict[tuple[str, object], int | None]) -> None:
    """Send ``changed`` with ``changes`` at once (committed changes only); a failing receiver is logged."""
    for receiver, result in changed.send_robust(sender=None, changes=changes):
        if isinstance(result, Exception):
            logger.warning("announcement receiver %s failed", receiver, exc_info=result)


@contextmanager
def stamped(ts: int | None) -> Iterator[None]:
    """Stamp the announcements made inside with ``ts``, the producer time of the event behind them (ns)."""
    previous = getattr(_local, "stamp", None)
    _local.stamp = ts
    try:
        yield
    finally:
        _local.stamp = previous
