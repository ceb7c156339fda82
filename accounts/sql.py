"""The hand-written statements of accounts' hot paths (sign-in checks, idempotency keys, the kill
switch), and nowhere else in the app.

Each one answers what an ORM query would answer, in one plain statement: on the paths below the
ORM spent more CPU compiling its query than PostgreSQL spent running it. The interpolated names
are the models' own tables and columns; values always travel as parameters.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from knox.models import AuthToken, get_token_model

from accounts.models import AccountMembership, BrokerAccount, IdempotencyKey, KillSwitch
from tradeconsole import db


def _permissions(user_id: str = "%s", names: str = "ct.app_label, p.codename") -> str:
    """The user's own and their groups' permissions; ``user_id`` is the SQL giving the user's id."""
    user_model = get_user_model()
    return (
        f"SELECT {names} FROM {Permission._meta.db_table} p"
        f" JOIN {ContentType._meta.db_table} ct ON ct.id = p.content_type_id"
        f" WHERE p.id IN (SELECT permission_id FROM {user_model.user_permissions.through._meta.db_table}"
        f"   WHERE user_id = {user_id}"
        f" UNION SELECT gp.permission_id FROM {Group.permissions.through._meta.db_table} gp"
        f"   JOIN {user_model.groups.through._meta.db_table} ug ON ug.group_id = gp.group_id"
        f"   WHERE ug.user_id = {user_id})"
    )


def user_permission_names(user_id: int) -> set[str]:
    """Return the names (``app_label.codename``) of the permissions of user ``user_id``, their own
    and their groups', as ``ModelBackend.get_all_permissions`` gives them for an active user who
    is not a superuser."""
    with db.cursor() as cursor:
        cursor.execute(_permissions(), [user_id, user_id])
        return {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}


def tokens_with_key(token_key: str) -> list[tuple[AuthToken, list[str]]]:
    """Return the knox tokens whose ``token_key`` is ``token_key``, each with its user loaded and
    the names of that user's permissions (as ``user_permission_names`` gives them), read in one
    statement."""
    token_model, user_model = get_token_model(), get_user_model()
    quote = connection.ops.quote_name
    tokens, users = quote(token_model._meta.db_table), quote(user_model._meta.db_table)
    user_column = quote(token_model._meta.get_field("user").column)
    width = len(token_model._meta.concrete_fields)
    # The user's permissions too (the role gate asks for one on every write).
    names = "ct.app_label || '.' || p.codename"
    permissions = f"ARRAY({_permissions(f'{tokens}.{user_column}', names)})"
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT {db.columns(token_model, tokens)}, {db.columns(user_model, users)}, {permissions}"
            f" FROM {tokens} JOIN {users} ON {users}.{quote(user_model._meta.pk.column)} = {tokens}.{user_column}"
            f" WHERE {tokens}.{quote(token_model._meta.get_field('token_key').column)} = %s",
            [token_key],
        )
        rows = cursor.fetchall()
    found = []
    for row in rows:
        token = db.from_row(token_model, row)
        token.user = db.from_row(user_model, row, width)
        found.append((token, list(row[-1])))
    return found


def account_with_code(code: str, *, member_id: int | None) -> BrokerAccount | None:
    """Return the broker account ``code``, when user ``member_id`` is one of its members (any
    account when ``member_id`` is None); None otherwise."""
    table = connection.ops.quote_name(BrokerAccount._meta.db_table)
    where = f"{table}.code = %s"
    params: list = [str(code)]
    if member_id is not None:
        memberships = connection.ops.quote_name(AccountMembership._meta.db_table)
        where += f" AND EXISTS (SELECT 1 FROM {memberships} m WHERE m.account_id = {table}.id AND m.user_id = %s)"
        params.append(member_id)
    return db.select_one(BrokerAccount, where, params)


def broker_account_lock(account_id: int) -> BrokerAccount | None:
    """Return broker account ``account_id`` with its row locked (``FOR UPDATE``) until the
    transaction ends; None when there is none."""
    return db.select_one(BrokerAccount, "id = %s", [account_id], lock=True)


def kill_switch_reason() -> str | None:
    """Return the reason of the desk-wide kill switch (the row of pk 1) while it is engaged; None
    while it is released or has no row."""
    table = connection.ops.quote_name(KillSwitch._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(f"SELECT reason FROM {table} WHERE id = 1 AND engaged")
        found = cursor.fetchone()
    return found[0] if found else None


# --- idempotency keys (accounts.idempotency) -----------------------------------------------------


def _idempotency_table() -> str:
    return connection.ops.quote_name(IdempotencyKey._meta.db_table)


def idempotency_key_insert(
    *, user_id: int, key: str, fingerprint: str, status: str, created_at: datetime
) -> tuple[bool, int | None]:
    """Take the transaction-scoped advisory lock of ``(user_id, key)`` and, when it is ours, insert
    the key's row unless one exists; return (whether the lock is ours, the id of the row inserted
    or None).

    The lock and the insert are one round trip (it runs on every order entry). While a running
    request holds the lock, its uncommitted row cannot block this INSERT: the INSERT only runs
    once the lock is ours.
    """
    table = _idempotency_table()
    with db.cursor() as cursor:
        cursor.execute(
            "WITH claim AS (SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 413)) AS held),"
            f" inserted AS (INSERT INTO {table} (user_id, key, fingerprint, status, created_at)"
            "   SELECT %s, %s, %s, %s, %s FROM claim WHERE held"
            "   ON CONFLICT (user_id, key) DO NOTHING RETURNING id)"
            " SELECT held, (SELECT id FROM inserted) FROM claim",
            [f"idem:{user_id}:{key}", user_id, key, fingerprint, status, created_at],
        )
        held, inserted = cursor.fetchone()
    return held, inserted


def idempotency_key_lock(*, user_id: int, key: str) -> IdempotencyKey | None:
    """Return the row of ``(user_id, key)`` locked for this transaction (``FOR UPDATE NOWAIT``);
    None when there is none.

    :raises OperationalError: another transaction holds the row's lock.
    """
    return db.select_one(IdempotencyKey, "user_id = %s AND key = %s", [user_id, key], lock=True, nowait=True)


def idempotency_key_write_response(
    *, pk: int, status: str, response_status: int, response_body: object, completed_at: datetime
) -> None:
    """Write the outcome of key row ``pk``: its status, response and completion time."""
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_idempotency_table()}"
            " SET status = %s, response_status = %s, response_body = %s, completed_at = %s WHERE id = %s",
            [status, response_status, connection.ops.adapt_json_value(response_body, None), completed_at, pk],
        )


def kill_switch_engaged_for_share() -> bool | None:
    """Return whether the desk-wide kill switch (the row of pk 1) is engaged, holding a shared lock
    on its row (``FOR SHARE``) until the transaction ends; None when it has no row."""
    table = connection.ops.quote_name(KillSwitch._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(f"SELECT engaged FROM {table} WHERE id = 1 FOR SHARE")
        row = cursor.fetchone()
    return None if row is None else bool(row[0])
