"""Database helpers shared by the apps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, NotSupportedError, connection, connections, transaction
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

ModelT = TypeVar("ModelT", bound=Model)


def commit_without_flush_wait() -> None:
    """Let the current transaction's COMMIT return before its WAL reaches disk.

    For writes that are cheap to lose in a crash because they are rebuilt or repeated: a crash
    may drop the last commits, never corrupt them. Call it inside the transaction.
    """
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def ping() -> None:
    """Run the cheapest statement there is, to prove the database answers.

    :raises DatabaseError: it does not (any driver error).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


# --- prepared statements for the hot paths -------------------------------------------------------


def prepares_statements(connection=None) -> bool:
    """Return whether ``connection`` (the default one) prepares the statements of ``cursor()``:
    ``prepare_threshold`` is set (``TRADECONSOLE_DB_PREPARED_STATEMENTS``)."""
    connection = connection or _connection()
    return connection.settings_dict["OPTIONS"].get("prepare_threshold") is not None


def cursor():
    """Return a cursor for a plain statement of fixed shape on a hot path (order entry, the token
    check, the bridge's reads and writes).

    Where ``prepares_statements()``, its parameters are bound by the server, so the connection
    prepares the statement from its fifth run on and PostgreSQL stops parsing it (a third of its
    CPU per API order). Every other statement, the ORM's included, keeps Django's client-side
    binding: an ORM ``IN`` list can exceed the 65,535 parameters of a server-bound statement
    (deleting 100,000 fills does), and a statement run once gains nothing from preparing. While
    queries are logged (``DEBUG``, or a test capturing them) parameters are bound in the client
    too, so the log shows each statement with its values.
    """
    connection = _connection()
    if not prepares_statements(connection) or connection.queries_logged:
        return connection.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    # Connect (or replace a connection that failed its health check) first: the cursor class is
    # the psycopg connection's, switched for this one cursor. A Django connection belongs to
    # one thread, so no other cursor is made meanwhile.
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw = connection.connection
    default = raw.cursor_factory
    raw.cursor_factory = ServerBindingCursor
    try:
        return connection.cursor()
    finally:
        raw.cursor_factory = default


# --- prepared statements after a schema change -------------------------------------------------

# SQLSTATE feature_not_supported: what PostgreSQL answers, on every run, to a statement prepared
# before a migration changed the type of a column it returns ("cached plan must not change result
# type"); psycopg keeps the statement, so only a new connection runs it again.
_FEATURE_NOT_SUPPORTED = "0A000"


def _replace_connection_after_stale_plan(execute, sql, params, many, context):
    try:
        return execute(sql, params, many, context)
    except NotSupportedError as exc:
        if getattr(exc.__cause__, "sqlstate", None) == _FEATURE_NOT_SUPPORTED:
            # Obsolete from now: closed at the next request or task boundary (close_old_connections),
            # so the statement fails once per connection, not until CONN_MAX_AGE runs out.
            context["connection"].close_at = 0.0
        raise


def guard_prepared_statements(sender, connection, **kwargs) -> None:
    """``connection_created`` receiver: give a PostgreSQL connection that prepares statements the
    wrapper that replaces it once a migration has made one of its prepared statements fail."""
    if not prepares_statements(connection):
        return
    if _replace_connection_after_stale_plan not in connection.execute_wrappers:
        connection.execute_wrappers.append(_replace_connection_after_stale_plan)


# --- plain-SQL reads and inserts of model rows ---------------------------------------------------
#
# The ORM spends 0.5-1 ms of CPU building each statement of order entry, against ~0.08 ms to run
# it as plain SQL. These helpers keep the rows the ORM's: the same columns, the same conversions
# from and to the database, the same instance state and save signals. Only the statement
# compiler is skipped.

_converters: dict[type[Model], list[tuple[int, Any, list]]] = {}
_columns: dict[tuple[type[Model], str], str] = {}
_inserts: dict[tuple[type[Model], bool], tuple[list, str, list]] = {}


def _connection():
    # The connection itself: every attribute read through django.db.connection is a lookup in
    # a thread-local first, which the per-field loops below would repeat dozens of times.
    return connections[DEFAULT_DB_ALIAS]


def columns(model: type[Model], alias: str) -> str:
    """Return the quoted columns of ``model``'s concrete fields, prefixed by ``alias``, in the
    order ``from_row`` reads them."""
    connection = _connection()
    key = (model, alias)
    found = _columns.get(key)
    if found is None:
        quote = connection.ops.quote_name
        found = _columns[key] = ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)
    return found


def from_row(model: type[ModelT], row: Sequence[Any], offset: int = 0) -> ModelT:
    """Return the instance of ``model`` in ``row[offset:]`` (the columns of ``columns(model, …)``),
    converted as the ORM converts what it reads (JSON, for one)."""
    connection = _connection()
    fields = model._meta.concrete_fields
    values = list(row[offset : offset + len(fields)])
    for index, expression, converters in _row_converters(model, connection):
        value = values[index]
        for converter in converters:
            value = converter(value, expression, connection)
        values[index] = value
    return model.from_db(connection.alias, None, values)


def select_one(
    model: type[ModelT],
    where: str,
    params: Sequence[Any],
    *,
    order_by: str = "",
    lock: bool = False,
    nowait: bool = False,
) -> ModelT | None:
    """Return the first row of ``model``'s table that matches ``where``, read as ``from_row`` reads
    it; None when none matches.

    ``where`` and ``order_by`` are SQL over the table's own columns (``%s`` for each of
    ``params``, prepared as ``prepare`` prepares them); ``lock`` locks the row (``lock_clause``,
    with ``nowait``).

    :raises OperationalError: ``nowait`` and another transaction holds the row's lock.
    """
    table = _connection().ops.quote_name(model._meta.db_table)
    sql = f"SELECT {columns(model, table)} FROM {table} WHERE {where}"
    if order_by:
        sql += f" ORDER BY {order_by}"
    sql += " LIMIT 1" + (lock_clause(nowait=nowait) if lock else "")
    with cursor() as statement:
        statement.execute(sql, params)
        row = statement.fetchone()
    return from_row(model, row) if row is not None else None


def _row_converters(model: type[Model], connection) -> list[tuple[int, Any, list]]:
    found = _converters.get(model)
    if found is None:
        found = []
        for index, field in enumerate(model._meta.concrete_fields):
            expression = field.get_col(model._meta.db_table)
            converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)
            if converters:
                found.append((index, expression, converters))
        _converters[model] = found
    return found


def prepare(model: type[Model], name: str, value: Any) -> Any:
    """Return ``value`` of field ``name`` of ``model`` as a statement parameter, as the ORM passes
    it."""
    return model._meta.get_field(name).get_db_prep_value(value, _connection())


def lock_clause(*, nowait: bool = False) -> str:
    """Return `` FOR UPDATE``, with `` NOWAIT`` when ``nowait``."""
    return " FOR UPDATE NOWAIT" if nowait else " FOR UPDATE"


def insert(instance: ModelT) -> ModelT:
    """Insert the new row ``instance`` as ``instance.save(force_insert=True)`` does, in one
    plain statement, and return it with its primary key (and any database-returned field) set.

    The same values are written: each field's ``pre_save`` (``auto_now_add`` times, defaults)
    prepared for the database as the ORM prepares it; ``pre_save`` and ``post_save`` are sent.
    For a model without parents (multi-table inheritance) and without ``order_with_respect_to``.

    :raises IntegrityError: a constraint refuses the row (the enclosing transaction is marked
        for rollback, as after a failed ``save()``).
    """
    model = type(instance)
    meta = model._meta
    if meta.parents or meta.order_with_respect_to or meta.proxy:
        raise TypeError(f"insert() does not handle {meta.label}: use save()")
    connection = _connection()
    using = connection.alias
    instance._prepare_related_fields_for_save(operation_name="save")
    pre_save.send(sender=model, instance=instance, raw=False, using=using, update_fields=None)
    if not instance._is_pk_set(meta):
        setattr(instance, meta.pk.attname, meta.pk.get_pk_value_on_save(instance))
    fields, sql, returning = _insert_statement(model, instance._is_pk_set(meta), connection)
    values = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with transaction.mark_for_rollback_on_error(using), cursor() as statement:
        statement.execute(sql, values)
        returned = statement.fetchone() if returning else []
    for field, value in zip(returning, returned, strict=True):
        expression = field.get_col(meta.db_table)
        for converter in connection.ops.get_db_converters(expression) + expression.get_db_converters(connection):
            value = converter(value, expression, connection)
        setattr(instance, field.attname, value)
    instance._state.db = using
    instance._state.adding = False
    post_save.send(sender=model, instance=instance, created=True, update_fields=None, raw=False, using=using)
    return instance


def update(instance: Model, fields: set[str]) -> None:
    """Write ``fields`` of the saved row ``instance`` as ``instance.save(update_fields=fields)``
    does, in one plain UPDATE: each field's ``pre_save`` (``auto_now`` times) prepared for the
    database as the ORM prepares it; ``pre_save`` and ``post_save`` are sent.

    :raises DatabaseError: no row has the instance's primary key (as ``save()`` raises).
    """
    model = type(instance)
    meta = model._meta
    connection = _connection()
    using = connection.alias
    names = frozenset(fields)
    pre_save.send(sender=model, instance=instance, raw=False, using=using, update_fields=names)
    quote = connection.ops.quote_name
    assignments, values = [], []
    for name in sorted(names):
        field = meta.get_field(name)
        assignments.append(f"{quote(field.column)} = %s")
        values.append(field.get_db_prep_save(field.pre_save(instance, False), connection))
    with transaction.mark_for_rollback_on_error(using), cursor() as statement:
        statement.execute(
            f"UPDATE {quote(meta.db_table)} SET {', '.join(assignments)} WHERE {quote(meta.pk.column)} = %s",
            [*values, meta.pk.get_db_prep_value(instance.pk, connection)],
        )
        if statement.rowcount == 0:
            raise DatabaseError("Save with update_fields did not affect any rows.")
    post_save.send(sender=model, instance=instance, created=False, update_fields=names, raw=False, using=using)


def _insert_statement(model: type[Model], pk_set: bool, connection) -> tuple[list, str, list]:
    """Return the fields written, the INSERT statement and the fields it returns, as the ORM's."""
    key = (model, pk_set)
    found = _inserts.get(key)
    if found is None:
        meta = model._meta
        fields = [f for f in meta.local_concrete_fields if not f.generated and (pk_set or f is not meta.auto_field)]
        quote = connection.ops.quote_name
        returning = list(meta.db_returning_fields)
        sql = (
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
            f" VALUES ({', '.join(['%s'] * len(fields))})"
        )
        if returning:
            sql += f" RETURNING {', '.join(quote(f.column) for f in returning)}"
        found = _inserts[key] = (fields, sql, returning)
    return found
