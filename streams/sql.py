"""The hand-written statements of the stream side's hot paths (the relay's claim, the bridge's
receipts, the live rows' reads), and nowhere else in the app.

Each one answers what an ORM query would answer, in one plain statement: on these paths, run for
nearly every command and event, the ORM spent more CPU compiling its query than PostgreSQL spent
running it. The interpolated names are the models' own tables and columns; values always travel
as parameters.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from accounts.models import AccountValue, BrokerAccount, OutboxMessage
from orders.models import Instrument, Order, PnLPoint
from strategies.models import Strategy, StrategyVersion, TradingSession
from tradeconsole import db


def outbox_claim(batch_size: int) -> list[OutboxMessage]:
    """Lock the next ``batch_size`` unpublished outbox rows (id order, skipping rows another
    transaction holds), mark them published (``published_at``, ``publish_count``; a risk row is
    also acknowledged, its SET being its own receipt), and return them in id order.

    The marks belong to the caller's transaction: they count only if it commits.
    """
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    claimed = OutboxMessage.objects.raw(
        f"UPDATE {table} SET published_at = now(), publish_count = publish_count + 1,"
        " acknowledged_at = CASE WHEN stream = 'risk' THEN now() ELSE acknowledged_at END"
        f" WHERE id IN (SELECT id FROM {table} WHERE published_at IS NULL ORDER BY id LIMIT %s"
        " FOR UPDATE SKIP LOCKED)"
        " RETURNING id, message_id, stream, type, data, created_at, published_at, publish_count, acknowledged_at,"
        " correlation_id",
        [batch_size],
    )
    return sorted(claimed, key=lambda row: row.id)


def outbox_mark_received(client_order_id: str, types: Sequence[str], *, now: datetime) -> tuple[int, bool]:
    """Mark the published, unacknowledged outbox commands of ``types`` about ``client_order_id``
    acknowledged at ``now``; return (how many were marked, whether any such command is still
    unpublished).

    Both reads match the partial index ``outbox_unacknowledged_order`` (``data ->
    'client_order_id'``, unacknowledged).
    """
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    match = "acknowledged_at IS NULL AND type = ANY(%s) AND (data -> 'client_order_id') = %s::jsonb"
    key = json.dumps(client_order_id)
    with db.cursor() as cursor:
        cursor.execute(
            f"WITH marked AS (UPDATE {table} SET acknowledged_at = %s"
            f" WHERE {match} AND published_at IS NOT NULL RETURNING 1)"
            f" SELECT (SELECT COUNT(*) FROM marked),"
            f" EXISTS (SELECT 1 FROM {table} WHERE {match} AND published_at IS NULL)",
            [now, list(types), key, list(types), key],
        )
        marked, waiting = cursor.fetchone()
    return marked, waiting


def orders_for_rows(
    *, pks: Sequence[int], client_order_ids: Sequence
) -> list[tuple[Order, str, str, int | None, str | None]]:
    """Return the orders named by id or ``client_order_id`` (values as ``db.prepare`` gives
    them), newest first, each with its account's code, its instrument's symbol and, for an order
    of a trading session, the session's strategy id and name (else None twice)."""
    if not pks and not client_order_ids:
        return []
    order, account, instrument, session, strategy = (
        connection.ops.quote_name(model._meta.db_table)
        for model in (Order, BrokerAccount, Instrument, TradingSession, Strategy)
    )
    wanted = [
        f"o.{column} IN ({', '.join(['%s'] * len(values))})"
        for column, values in (("id", pks), ("client_order_id", client_order_ids))
        if values
    ]
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT {db.columns(Order, 'o')}, a.code, i.symbol, s.strategy_id, st.name"
            f" FROM {order} o JOIN {account} a ON a.id = o.account_id JOIN {instrument} i ON i.id = o.instrument_id"
            f" LEFT JOIN {session} s ON s.id = o.trading_session_id LEFT JOIN {strategy} st ON st.id = s.strategy_id"
            f" WHERE {' OR '.join(wanted)} ORDER BY o.created_at DESC, o.id DESC",
            [*pks, *client_order_ids],
        )
        found = cursor.fetchall()
    width = len(Order._meta.concrete_fields)
    return [(db.from_row(Order, values), *values[width : width + 4]) for values in found]


def accounts_for_rows(
    *, pks: Sequence[int], working_statuses: Sequence[str], day_start: datetime, now: datetime
) -> list[tuple[BrokerAccount, int, PnLPoint | None]]:
    """Return the accounts ``pks`` in id order, each with how many of its orders have one of
    ``working_statuses`` and its latest PnL point from ``day_start`` to ``now`` (None without one).

    As ``BrokerAccount.objects.filter(pk__in=…).order_by("pk")``, a count of each account's orders
    filtered on ``status__in`` and ``PnLPoint.objects.filter(account=…, at__gte=day_start,
    at__lte=now).order_by("-at", "-pk").first()`` answer, in one round trip for every account.
    """
    if not pks:
        return []
    account, order, point = (
        connection.ops.quote_name(model._meta.db_table) for model in (BrokerAccount, Order, PnLPoint)
    )
    status_marks = ", ".join(["%s"] * len(working_statuses))
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT {db.columns(BrokerAccount, 'a')},"
            f" (SELECT COUNT(*) FROM {order} o WHERE o.account_id = a.id AND o.status IN ({status_marks})),"
            f" {db.columns(PnLPoint, 'p')}"
            f" FROM {account} a LEFT JOIN LATERAL (SELECT * FROM {point} WHERE account_id = a.id"
            "   AND at >= %s AND at <= %s ORDER BY at DESC, id DESC LIMIT 1) p ON true"
            f" WHERE a.id IN ({', '.join(['%s'] * len(pks))}) ORDER BY a.id",
            [*working_statuses, day_start, now, *pks],
        )
        found = cursor.fetchall()
    width = len(BrokerAccount._meta.concrete_fields)
    return [
        (
            db.from_row(BrokerAccount, values),
            values[width],
            db.from_row(PnLPoint, values, offset=width + 1) if values[width + 1] is not None else None,
        )
        for values in found
    ]


def account_values_for_rows(*, pks: Sequence[int], tags: Sequence[str]) -> list[AccountValue]:
    """Return the ``AccountValue`` rows of ``tags`` of the accounts ``pks``.

    As ``AccountValue.objects.filter(account__in=…, tag__in=…)``.
    """
    if not pks or not tags:
        return []
    table = connection.ops.quote_name(AccountValue._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT {db.columns(AccountValue, table)} FROM {table}"
            f" WHERE account_id IN ({', '.join(['%s'] * len(pks))}) AND tag IN ({', '.join(['%s'] * len(tags))})",
            [*pks, *tags],
        )
        return [db.from_row(AccountValue, values) for values in cursor.fetchall()]


def sessions_for_rows(pks: Sequence[int]) -> list[TradingSession]:
    """Return the trading sessions ``pks`` with their strategy, account, instrument and version loaded.

    As ``TradingSession.objects.select_related("strategy", "account", "instrument", "version")
    .filter(pk__in=…)``: a broker session is announced twice a bar (its decision's commit and its
    bar's record), and the ORM's compile of that four-join read cost ~2 ms of CPU each time.
    """
    if not pks:
        return []
    related = (
        ("strategy", Strategy),
        ("account", BrokerAccount),
        ("instrument", Instrument),
        ("version", StrategyVersion),
    )
    tables = {name: connection.ops.quote_name(model._meta.db_table) for name, model in related}
    session = connection.ops.quote_name(TradingSession._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT {db.columns(TradingSession, 's')}, {', '.join(db.columns(model, name) for name, model in related)}"
            f" FROM {session} s JOIN {tables['strategy']} strategy ON strategy.id = s.strategy_id"
            f" JOIN {tables['account']} account ON account.id = s.account_id"
            f" LEFT JOIN {tables['instrument']} instrument ON instrument.id = s.instrument_id"
            f" LEFT JOIN {tables['version']} version ON version.id = s.version_id"
            f" WHERE s.id IN ({', '.join(['%s'] * len(pks))})",
            list(pks),
        )
        found = cursor.fetchall()
    sessions = []
    for values in found:
        session_row = db.from_row(TradingSession, values)
        offset = len(TradingSession._meta.concrete_fields)
        for name, model in related:
            field = TradingSession._meta.get_field(name)
            if getattr(session_row, field.attname) is not None:
                field.set_cached_value(session_row, db.from_row(model, values, offset))
            else:
                field.set_cached_value(session_row, None)
            offset += len(model._meta.concrete_fields)
        sessions.append(session_row)
    return sessions
