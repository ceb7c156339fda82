"""The strategies app's hand-written SQL: the runner's session leases.

A lease is (``lease_owner``, ``lease_expires_at``) on the session row. One statement renews the
caller's leases and takes expired or free ones, skipping rows another runner has locked, so two
runners never hold one session and a dead runner's sessions move on once its leases expire.
"""

from __future__ import annotations

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
