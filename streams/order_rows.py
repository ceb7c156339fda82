"""The blotter's order rows: what one order shows, its controls' flags and its unanswered modify.

Read through ``streams.rows`` (which re-exports these) like every other row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from orders.models import Order
from orders.modify_input import modify_offered, modify_pending_text
from orders.transitions import CANCELLABLE_STATUSES, FINAL_STATUSES, WORKING_STATUSES
from streams import sql
from streams.row_values import num, row, time_text
from tradeconsole import db


def order_row(order: Order) -> dict:
    """The blotter row of ``order`` (load ``instrument``, ``account``, ``trading_session__strategy``)."""
    session = order.trading_session
    return _order_row(
        order,
        account=order.account.code,
        symbol=order.instrument.symbol,
        strategy_id=session.strategy_id if session else None,
        strategy=session.strategy.name if session else "",
    )


def _order_row(order: Order, *, account: str, symbol: str, strategy_id: int | None, strategy: str | None) -> dict:
    ctx = {
        "pk": order.pk,
        "client_order_id": str(order.client_order_id),
        "short_id": str(order.client_order_id)[:8],
        "account_id": order.account_id,
        "account": account,
        "symbol": symbol,
        "side": order.side,
        "quantity": num(order.quantity),
        "order_type": order.order_type,
        "limit_price": num(order.limit_price),
        "stop_price": num(order.stop_price),
        "tif": order.tif,
        "status": order.status,
        "status_label": order.get_status_display(),
        "filled_quantity": num(order.filled_quantity),
        "average_fill_price": num(order.average_fill_price),
        "source": order.source,
        "strategy_id": strategy_id,
        "strategy": strategy or "",
        "reject_reason": order.reject_reason,
        "created_at": time_text(order.created_at),
        "updated_at": time_text(order.updated_at),
        "working": order.status in WORKING_STATUSES,
        "final": order.status in FINAL_STATUSES,
        "cancellable": order.status in CANCELLABLE_STATUSES,
        "modifiable": modify_offered(order),
        # The quantity the Modify form starts from: the one asked for last, confirmed or not.
        "target_quantity": num(order.pending_quantity if order.pending_quantity is not None else order.quantity),
        "modify_pending": order.modify_requested_at is not None,
        "modify_pending_text": modify_pending_text(order),
        "modify_requested_at": time_text(order.modify_requested_at),
        "modify_refusal": order.modify_refusal,
    }
    return row("order", f"order-{order.pk}", ctx, account_id=order.account_id)


def order_rows(*, pks: Iterable[int] = (), client_order_ids: Iterable[str] = ()) -> list[dict]:
    """The blotter rows of the orders named by id or ``client_order_id``, newest first.

    The same rows as ``order_row``, read by one plain statement: the bridge and the relay render
    the orders of every event they fan out, and the ORM's compile of the four-table query cost
    more CPU than the rest of the fan-out.
    """
    pks = [int(pk) for pk in pks]
    client_order_ids = [db.prepare(Order, "client_order_id", uuid.UUID(str(v))) for v in client_order_ids]
    found = sql.orders_for_rows(pks=pks, client_order_ids=client_order_ids)
    return [
        _order_row(order, account=account, symbol=symbol, strategy_id=strategy_id, strategy=strategy)
        for order, account, symbol, strategy_id, strategy in found
    ]


def order_row_by_id(order_id: int) -> dict | None:
    """The blotter row of order ``order_id``; None when there is none."""
    found = order_rows(pks=[order_id])
    return found[0] if found else None
