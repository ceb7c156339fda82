"""The hand-written statements of the orders app's hot paths, and nowhere else in the app.

Each statement has a test beside it comparing its answer with the ORM's
(``orders/tests/test_monitoring_pnl.py`` for the monitor's).
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection

from orders.models import Fill

# --- the monitoring run's lock ---------------------------------------------------------------------


def advisory_lock_try(key: int) -> bool:
    """Take the session-level advisory lock ``key`` if it is free; return whether it was taken."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        return bool(cursor.fetchone()[0])


def advisory_unlock(key: int) -> None:
    """Release the session-level advisory lock ``key`` this connection holds.

    :raises DatabaseError: the connection is gone (and the lock with it).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


# --- the monitor's FIFO books ----------------------------------------------------------------------

# One scan, the scaling done in SQL: quantities in 1/10,000, prices in 1/1,000,000, times in µs.
FILL_ROW_SELECT = (
    "SELECT id, account_id, instrument_id, side = 'BUY', (quantity * 10000)::bigint, (price * 1000000)::bigint, "
    "(extract(epoch from executed_at) * 1000000)::bigint FROM {table} WHERE {where}"
)
# The PostgreSQL spelling of each lookup ``fill_rows`` takes.
FILL_ROW_LOOKUPS = {
    "id__gt": "id > %s",
    "id__in": "id = ANY(%s)",
    "account_id__in": "account_id = ANY(%s)",
    "account_id": "account_id = %s",
    "instrument_id": "instrument_id = %s",
}


def fill_rows(*, in_database_order: bool = False, **lookups) -> list[tuple]:
    """Return the fills matching ``lookups`` (keys of ``FILL_ROW_LOOKUPS``) as scaled tuples.

    Each tuple is (id, account id, instrument id, is a buy, quantity x 10**4, price x 10**6,
    ``executed_at`` in microseconds since the epoch). With ``in_database_order`` the rows come
    sorted by (``executed_at``, id); without, in no particular order.
    """
    where = " AND ".join(FILL_ROW_LOOKUPS[name] for name in lookups) or "TRUE"
    params = [list(value) if name.endswith("__in") else value for name, value in lookups.items()]
    statement = FILL_ROW_SELECT.format(table=Fill._meta.db_table, where=where)
    if in_database_order:
        statement += " ORDER BY executed_at, id"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def fill_id_floor(*, created_before: datetime) -> int:
    """Return the largest id of the fills created before ``created_before`` (0 when there is none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce(max(id), 0) FROM {Fill._meta.db_table} WHERE created_at < %s", [created_before]
        )
        return cursor.fetchone()[0]


def fill_ids_between(*, above: int, up_to: int) -> list[int]:
    """Return the ids of the fills with ``above < id <= up_to``, read through the primary key only."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {Fill._meta.db_table} WHERE id > %s AND id <= %s", [above, up_to])
        return [fill_id for (fill_id,) in cursor.fetchall()]
