"""Database helpers shared by the apps."""

from __future__ import annotations

from django.db import connection


def commit_without_flush_wait() -> None:
    """Let the current transaction's COMMIT return before its WAL reaches disk (PostgreSQL only;
    elsewhere nothing happens).

    For writes that are cheap to lose in a crash because they are rebuilt or repeated: a crash
    may drop the last commits, never corrupt them. Call it inside the transaction.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
