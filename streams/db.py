"""Database connection hygiene for the long-running stream loops."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, close_old_connections, connection


def refresh_connections() -> None:
    """Drop a dead or expired connection before a batch, so a restarted PostgreSQL is survived.

    Skipped inside an atomic block (a test wrapping the loop in its transaction), where closing
    would throw the transaction away.
    """
    if not connection.in_atomic_block:
        close_old_connections()


class BatchLost(Exception):
    """The open transaction will roll back on leaving its block: none of its work may be acknowledged."""


def batch_doomed(wrote: bool) -> bool:
    """Whether the outermost transaction will roll back instead of committing, when it ``wrote``.

    Django marks a block ``needs_rollback`` when a savepoint cannot be rolled back (its connection
    died) and then rolls the whole transaction back on exit *without raising*; a caller that
    caught the inner error would otherwise take its earlier work for committed.
    """
    return connection.closed_in_transaction or (wrote and connection.needs_rollback)


def connection_fault(error: BaseException) -> bool:
    """Whether ``error`` is the database connection failing (killed, restarted), not the statement."""
    return isinstance(error, (InterfaceError, OperationalError))
