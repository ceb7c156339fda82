"""Database connection hygiene for the long-running stream loops."""

from __future__ import annotations

from django.db import close_old_connections, connection


def refresh_connections() -> None:
    """Drop a dead or expired connection before a batch, so a restarted PostgreSQL is survived.

    Skipped inside an atomic block (a test wrapping the loop in its transaction), where closing
    would throw the transaction away.
    """
    if not connection.in_atomic_block:
        close_old_connections()
