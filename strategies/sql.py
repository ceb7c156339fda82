"""The strategies app's hand-written SQL: the runner's session leases, its bars' record, a broker decision's reads.

A lease is (``lease_owner``, ``lease_expires_at``) on the session row. One statement renews the
caller's leases and takes expired or free ones, skipping rows another runner has locked, so two
runners never hold one session and a dead runner's sessions move on once its leases expire.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

from django.db import connection

from accounts.models import BrokerAccount
from orders.models import Instrument
from strategies.models import SessionDecision, Strategy, TradingSession
from tradeconsole import db

_TAKE = """
WITH wanted AS (
    SELECT id FROM strategies_tradingsession
    WHERE status = 'running'
      AND (lease_owner = %(owner)s OR lease_owner = '' OR lease_expires_at IS NULL OR lease_expires_at < now())
    ORDER BY (lease_owner = %(owner)s) DESC, id
    LIMIT %(capacity)s
    FOR UPDATE SKIP LOCKED
)
UPDATE strategies_tradingsession AS s
SET lease_owner = %(owner)s, lease_expires_at = now() + make_interval(secs => %(ttl)s)
FROM wanted WHERE s.id = wanted.id
RETURNING s.id
"""

_RELEASE_ALL = """
UPDATE strategies_tradingsession SET lease_owner = '', lease_expires_at = NULL
WHERE lease_owner = %(owner)s
"""

_RELEASE_SOME = _RELEASE_ALL + " AND id = ANY(%(ids)s)"


def take_leases(cursor, *, owner: str, ttl_seconds: float, capacity: int) -> list[int]:
    """Renew ``owner``'s leases of running sessions and take free ones, ``capacity`` in all; the ids held."""
    cursor.execute(_TAKE, {"owner": owner, "ttl": float(ttl_seconds), "capacity": int(capacity)})
    return sorted(row[0] for row in cursor.fetchall())


def release_leases(cursor, *, owner: str, session_ids: list[int] | None) -> int:
    """Clear ``owner``'s leases (all, or of ``session_ids``); how many were cleared."""
    if session_ids is None:
        cursor.execute(_RELEASE_ALL, {"owner": owner})
    else:
        cursor.execute(_RELEASE_SOME, {"owner": owner, "ids": list(session_ids)})
    return cursor.rowcount


# One statement for a whole batch: Django's bulk_update builds a CASE of every row for every field
# (milliseconds of Python a session, quadratic in PostgreSQL), and psycopg escapes a text array
# element by element; one JSON document of the rows is encoded in C and read by PostgreSQL at once.
_RECORD = """
UPDATE strategies_tradingsession AS s
SET last_bar_time = v.last_bar_time, state = v.state{figures}
FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, last_bar_time bigint, state jsonb{columns})
WHERE s.id = v.id
"""
FIGURES = {
    "equity": "numeric",
    "realized_pnl": "numeric",
    "unrealized_pnl": "numeric",
    "max_drawdown": "numeric",
    "peak_pnl": "numeric",
    "trade_count": "integer",
    "win_count": "integer",
    "sharpe": "float8",
}
_SET_FIGURES = _RECORD.format(
    figures="".join(f", {name} = v.{name}" for name in FIGURES),
    columns="".join(f", {name} {kind}" for name, kind in FIGURES.items()),
)
_SET_BARS = _RECORD.format(figures="", columns="")


def record_sessions(cursor, rows: list[dict], *, figures: bool) -> int:
    """Set ``last_bar_time`` and ``state`` (and every field of ``FIGURES`` when ``figures``) of each
    session of ``rows`` (dicts with ``id`` and those keys), in one statement; how many rows it updated.

    Numbers other than integers go as their text (a Decimal exactly, a float's NaN and infinity as
    PostgreSQL reads them); ``state`` as JSON.
    """
    if figures:
        # A float's NaN or infinity is not JSON (the Sharpe ratio may be either): as text, PostgreSQL reads it.
        rows = [
            {k: repr(v) if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()} for r in rows
        ]
    document = json.dumps(rows, default=_text)
    cursor.execute(_SET_FIGURES if figures else _SET_BARS, [document])
    return cursor.rowcount


def _text(value) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --- a broker decision's reads (``session_order_place``, once a bar of every broker session) --------
#
# The ORM compiled each of these statements on every call: ~1 ms of CPU for the locked session
# with its account, instrument and strategy, ~0.5 ms each for the others, against ~0.1 ms to run
# them as plain statements. ``db.from_row`` makes the same model instances the ORM would.


def session_lock_for_order(session_id: int) -> TradingSession:
    """Lock and return the session ``session_id`` (its row only) with its account, instrument and
    strategy loaded, as ``TradingSession.objects.select_for_update(of=("self",))
    .select_related("account", "instrument", "strategy").get(pk=session_id)`` does.

    :raises TradingSession.DoesNotExist: no such session.
    """
    found = _session_for_order_sql()
    with db.cursor() as cursor:
        cursor.execute(found, [session_id])
        row = cursor.fetchone()
    if row is None:
        raise TradingSession.DoesNotExist("TradingSession matching query does not exist.")
    session = db.from_row(TradingSession, row)
    offset = len(TradingSession._meta.concrete_fields)
    related = [("account", BrokerAccount), ("strategy", Strategy), ("instrument", Instrument)]
    for name, model in related:
        field = TradingSession._meta.get_field(name)
        if getattr(session, field.attname) is not None:
            field.set_cached_value(session, db.from_row(model, row, offset))
        offset += len(model._meta.concrete_fields)
    return session


_statements: dict[str, str] = {}


def _session_for_order_sql() -> str:
    found = _statements.get("session_for_order")
    if found is None:
        found = _statements["session_for_order"] = (
            f"SELECT {db.columns(TradingSession, 's')}, {db.columns(BrokerAccount, 'a')}, "
            f"{db.columns(Strategy, 'st')}, {db.columns(Instrument, 'i')} "
            f"FROM {TradingSession._meta.db_table} s "
            f"JOIN {BrokerAccount._meta.db_table} a ON a.id = s.account_id "
            f"JOIN {Strategy._meta.db_table} st ON st.id = s.strategy_id "
            f"LEFT JOIN {Instrument._meta.db_table} i ON i.id = s.instrument_id "
            "WHERE s.id = %s FOR UPDATE OF s"
        )
    return found


def session_decision_of_bar(session_id: int, bar_time: int) -> SessionDecision | None:
    """The decision the session recorded for the bar at ``bar_time``, or None (one a bar, a unique pair).

    As ``SessionDecision.objects.filter(session_id=…, bar_time=…).first()``.
    """
    return db.select_one(SessionDecision, "session_id = %s AND bar_time = %s", [session_id, bar_time])


_NET_POSITION = """
SELECT sum(CASE WHEN f.side = 'BUY' THEN f.quantity ELSE -f.quantity END)
FROM orders_fill f JOIN orders_order o ON o.id = f.order_id
WHERE o.trading_session_id = %s AND f.instrument_id = %s
"""


def session_net_position(session_id: int, instrument_id: int) -> Decimal | None:
    """The net shares the fills of the session's orders in ``instrument_id`` add up to, bought minus
    sold; None without a fill."""
    with db.cursor() as cursor:
        cursor.execute(_NET_POSITION, [session_id, instrument_id])
        return cursor.fetchone()[0]


# --- the runner's per-batch reads (every batch of bars) ----------------------------------------------

# As the ORM's select_for_update() over the session joined to its account (no OF: both rows
# locked), in its Meta ordering (the lock order every batch takes).
_LOCK_FOR_RECORD = """
SELECT {columns}, a.code
FROM strategies_tradingsession s JOIN accounts_brokeraccount a ON a.id = s.account_id
WHERE s.id = ANY(%s) AND s.lease_owner = %s AND s.status = 'running'
ORDER BY s.created_at DESC
FOR UPDATE
"""
_RECORD_FIELDS = {"id", "last_bar_time", "status", "lease_owner", "mode", "account_id"}


def sessions_lock_for_record(session_ids: list[int], *, owner: str) -> list[TradingSession]:
    """Lock and return the running sessions of ``session_ids`` whose lease ``owner`` holds, only the
    fields a bar's record reads (and their account's id and code).

    As ``TradingSession.objects.select_for_update().filter(pk__in=…, lease_owner=owner,
    status="running").select_related("account").only("pk", "last_bar_time", "account__code",
    "account__id", "status", "lease_owner", "mode")``, without its compile on every batch.
    """
    # In the model's field order: from_db fills the fields it is not given with deferred ones.
    names = [f.attname for f in TradingSession._meta.concrete_fields if f.attname in _RECORD_FIELDS]
    statement = _LOCK_FOR_RECORD.format(columns=", ".join(f"s.{name}" for name in names))
    with connection.cursor() as cursor:
        cursor.execute(statement, [list(session_ids), owner])
        found = cursor.fetchall()
    alias = connection.alias
    account_field = TradingSession._meta.get_field("account")
    sessions = []
    for *values, code in found:
        session = TradingSession.from_db(alias, names, values)
        account_field.set_cached_value(
            session, BrokerAccount.from_db(alias, ["id", "code"], [session.account_id, code])
        )
        sessions.append(session)
    return sessions


_BROKER_FILLS = """
SELECT o.trading_session_id, f.side, f.quantity, f.price, f.commission
FROM orders_fill f JOIN orders_order o ON o.id = f.order_id
WHERE o.trading_session_id = ANY(%s)
ORDER BY f.executed_at, f.id
"""


def broker_fill_rows(session_ids: list[int]) -> list[tuple]:
    """The fills of the orders of the sessions ``session_ids``, in (``executed_at``, id) order, as
    (session id, side, quantity, price, commission)."""
    with connection.cursor() as cursor:
        cursor.execute(_BROKER_FILLS, [list(session_ids)])
        return cursor.fetchall()
