"""The hand-written statements of the orders app's hot paths, and nowhere else in the app.

Each statement has a test beside it comparing its answer with the ORM's
(``orders/tests/test_monitoring_pnl.py`` for the monitor's, ``orders/tests/test_sql.py`` for the
order services', ``orders/tests/test_order_entry_exposure.py`` for order entry's risk reads).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import connection

from orders.models import Fill, Instrument, Order, OrderEvent, Position, RiskLimit
from tradeconsole import db

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


# --- the order services' hot lookups (the bridge runs them for nearly every broker event) ----------


def order_lock_by_client_id(client_order_id: uuid.UUID) -> Order | None:
    """Lock and return the order of ``client_order_id`` (only its row); None when there is none.

    As ``Order.objects.select_for_update().filter(client_order_id=…).first()`` without the
    ORM's compile, which cost more CPU than the rest of the lookup.
    """
    key = db.prepare(Order, "client_order_id", client_order_id)
    return db.select_one(Order, "client_order_id = %s", [key], lock=True)


def order_by_client_id(client_order_id: uuid.UUID) -> Order | None:
    """The order of ``client_order_id``, unlocked; None when there is none.

    As ``Order.objects.filter(client_order_id=…).first()`` (order entry's idempotency look-up, twice
    an entry) without the ORM's compile.
    """
    key = db.prepare(Order, "client_order_id", client_order_id)
    return db.select_one(Order, "client_order_id = %s", [key])


# A constant statement over the model's own table: nothing interpolated comes from input.
ORDER_EVENT_SEEN = "SELECT 1 FROM {table} WHERE message_id = %s LIMIT 1"


def order_event_seen(message_id: uuid.UUID) -> bool:
    """Whether an order event of the stream message ``message_id`` is recorded.

    As ``OrderEvent.objects.filter(message_id=…).exists()``.
    """
    statement = ORDER_EVENT_SEEN.format(table=connection.ops.quote_name(OrderEvent._meta.db_table))
    with db.cursor() as cursor:
        cursor.execute(statement, [db.prepare(OrderEvent, "message_id", message_id)])
        return cursor.fetchone() is not None


def instrument_by_symbol(symbol: str) -> Instrument | None:
    """The instrument of ``symbol`` (upper case), the active one first when several share it.

    As ``Instrument.objects.filter(symbol=…).order_by("-active", "id").first()``.
    """
    return db.select_one(Instrument, "symbol = %s", [symbol], order_by="active DESC, id")


def execution_lock(key: str) -> None:
    """Hold the transaction-level advisory lock of the execution ``key`` until the transaction ends."""
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 413))", [f"exec:{key}"])


# --- order entry's duplicate guard (orders.services.duplicates) ---------------------------------------


def order_entered_alike(
    *,
    account_id: int,
    created_by_id: int,
    instrument_id: int,
    side: str,
    quantity,
    order_type: str,
    limit_price,
    stop_price,
    tif: str,
    since: datetime,
) -> Order | None:
    """The latest order ``created_by_id`` entered on ``account_id`` after ``since`` with these
    fields (prices compared as equal when both are NULL); None when there is none.

    As ``Order.objects.filter(account=…, created_by=…, …, created_at__gt=since)
    .order_by("-created_at", "-id").first()``, read backwards on the index ``order_account_created``
    (account, created_at): every person's order entry runs it, and the ORM's compile of the
    ten-field filter cost more CPU than the read.
    """
    return db.select_one(
        Order,
        "account_id = %s AND created_at > %s AND created_by_id = %s AND instrument_id = %s AND side = %s"
        " AND quantity = %s AND order_type = %s AND limit_price IS NOT DISTINCT FROM %s"
        " AND stop_price IS NOT DISTINCT FROM %s AND tif = %s",
        [
            account_id,
            since,
            created_by_id,
            instrument_id,
            side,
            db.prepare(Order, "quantity", quantity),
            order_type,
            db.prepare(Order, "limit_price", limit_price),
            db.prepare(Order, "stop_price", stop_price),
            tif,
        ],
        order_by="created_at DESC, id DESC",
    )


# --- order entry's risk reads (each risk rule is this statement; the ORM selectors are its oracle) --


def risk_limit_of_account(account_id: int) -> RiskLimit | None:
    """The ``RiskLimit`` row of the account ``account_id``; None when it has none.

    As ``RiskLimit.objects.filter(account_id=…).first()``: every order modify and monitoring run
    reads it, and the ORM's statement cost more CPU than the read.
    """
    return db.select_one(RiskLimit, "account_id = %s", [account_id])


# The quantity an order may come to: its own, or a larger one a pending modify asks for.
AT_MOST = "CASE WHEN pending_quantity > quantity THEN pending_quantity ELSE quantity END"


def order_entry_exposure_row(
    *,
    account_id: int,
    instrument_id: int,
    side: str,
    working_statuses: list[str],
    minute_ago: datetime,
    day_start: datetime,
) -> tuple:
    """One row: the account's ``RiskLimit`` columns (all NULL without a row), then its position in
    the instrument, the unfilled rest of its working orders on ``side`` (each at ``AT_MOST``), the
    orders entered since ``minute_ago``, the realized PnL and the commissions since
    ``day_start``, whether it has an allowed list, and whether the instrument is on it.

    As ``selectors.position_quantity``, ``working_quantity``, ``orders_in_last_minute``,
    ``realized_pnl_today`` and ``RiskLimit.allowed_instruments`` answer, in one round trip.
    """
    status_marks = ", ".join(["%s"] * len(working_statuses))
    through = RiskLimit.allowed_instruments.through._meta.db_table
    limit_table = connection.ops.quote_name(RiskLimit._meta.db_table)
    # Interpolated: the models' own tables and constant clauses, never input.
    statement = (
        f"SELECT {db.columns(RiskLimit, limit_table)},"
        f" (SELECT quantity FROM {Position._meta.db_table} WHERE account_id = %s AND instrument_id = %s),"
        f" (SELECT SUM({AT_MOST} - filled_quantity) FROM {Order._meta.db_table}"
        f"   WHERE account_id = %s AND instrument_id = %s AND side = %s AND status IN ({status_marks})),"
        f" (SELECT COUNT(*) FROM {Order._meta.db_table} WHERE account_id = %s AND created_at >= %s),"
        f" (SELECT SUM(realized_pnl) FROM {Fill._meta.db_table} WHERE account_id = %s AND executed_at >= %s),"
        f" (SELECT SUM(commission) FROM {Fill._meta.db_table} WHERE account_id = %s AND executed_at >= %s),"
        # No limits row: the id is NULL, so no allowed list and nothing restricted.
        f" EXISTS (SELECT 1 FROM {through} WHERE risklimit_id = {limit_table}.id),"
        f" EXISTS (SELECT 1 FROM {through} WHERE risklimit_id = {limit_table}.id AND instrument_id = %s)"
        f" FROM (SELECT 1) one LEFT JOIN {limit_table} ON {limit_table}.account_id = %s"
    )
    params = [
        *(account_id, instrument_id),
        *(account_id, instrument_id, side, *working_statuses),
        *(account_id, minute_ago),
        *(account_id, day_start),
        *(account_id, day_start),
        instrument_id,
        account_id,  # whose limits row is joined
    ]
    with db.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()
