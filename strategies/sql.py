"""The strategies app's hand-written SQL: the runner's session leases.

A lease is (``lease_owner``, ``lease_expires_at``) on the session row. One statement renews the
caller's leases and takes expired or free ones, skipping rows another runner has locked, so two
runners never hold one session and a dead runner's sessions move on once its leases expire.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

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
