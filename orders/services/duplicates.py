"""The duplicate guard of order entry by people (issue 16): the rule, its refusal and its audit rows.

An order a person enters (source ``admin`` or ``api``, with an actor) that is identical to one the
same person entered on the same account less than the account's ``duplicate_window_seconds``
ago (side, instrument, quantity, type, prices, time in force) is refused with
``OrderPossibleDuplicate`` until it is confirmed (``order_submit(confirm_duplicate=True)``; the
API's ``allow_duplicate``). A browser's Back then Save, or a script resending with a new
``Idempotency-Key``, otherwise places a second live order. Scheduled orders, the monitor and
strategies keep their own exactly-once keys (derived ``client_order_id``s) and are not guarded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import BrokerAccount, User
from accounts.services import audit_record, jsonable
from orders import sql
from orders.exceptions import OrderPossibleDuplicate
from orders.models import Instrument, Order, OrderSource

GUARDED_SOURCES = frozenset({OrderSource.ADMIN, OrderSource.API})


def _number(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.normalize():f}"


def duplicate_check(
    *,
    actor: User | None,
    account: BrokerAccount,
    instrument: Instrument,
    side: str,
    quantity: Decimal,
    order_type: str,
    limit_price: Decimal | None,
    stop_price: Decimal | None,
    tif: str,
    source: str,
    window_seconds: int,
    confirmed: bool,
) -> Order | None:
    """Return the earlier identical order a confirmed entry duplicates, or None when there is none.

    Only a person's entry is guarded (an actor, source admin or API); ``window_seconds`` 0 turns
    the guard off. Call it under the account lock, after every other check of the entry.

    :raises OrderPossibleDuplicate: an identical order of ``actor`` on ``account`` was entered
        within the window and ``confirmed`` is false; the exception names it.
    """
    if actor is None or not actor.is_authenticated or source not in GUARDED_SOURCES or window_seconds <= 0:
        return None
    now = timezone.now()
    earlier = sql.order_entered_alike(
        account_id=account.pk,
        created_by_id=actor.pk,
        instrument_id=instrument.pk,
        side=side,
        quantity=quantity,
        order_type=order_type,
        limit_price=limit_price,
        stop_price=stop_price,
        tif=tif,
        since=now - timedelta(seconds=window_seconds),
    )
    if earlier is None or confirmed:
        return earlier
    seconds = max(0, int((now - earlier.created_at).total_seconds()))
    attempted = {
        "account": account.code,
        "symbol": instrument.symbol,
        "side": side,
        "quantity": _number(quantity),
        "order_type": order_type,
        "limit_price": _number(limit_price),
        "stop_price": _number(stop_price),
        "tif": tif,
        "source": source,
    }
    raise OrderPossibleDuplicate(
        f"You entered the same order on {account.code} {seconds} s ago: {earlier.client_order_id} "
        f"({earlier.get_status_display()}). Confirm to place a second one.",
        earlier=earlier,
        attempted=attempted,
        extra={
            "earlier_client_order_id": str(earlier.client_order_id),
            "earlier_status": earlier.status,
            "earlier_created_at": earlier.created_at.isoformat(),
        },
    )


def duplicate_confirmed_record(*, order: Order, earlier: Order, actor: User | None, via: str) -> None:
    """Audit a confirmed duplicate (``order.duplicate_confirmed``), in the new order's transaction."""
    audit_record(
        actor=actor,
        action="order.duplicate_confirmed",
        obj=order,
        account=order.account,
        after={"earlier_client_order_id": str(earlier.client_order_id), "earlier_status": earlier.status},
        via=via,
    )


@transaction.atomic
def order_duplicate_refusal_record(*, refusal: OrderPossibleDuplicate, actor: User | None, via: str) -> None:
    """Audit a refused duplicate (``order.duplicate_refused``, on the earlier order).

    Call it once the refused entry's transaction has ended (``duplicate_refusals_audited``):
    the refusal rolls that transaction back, and the audit row with it.
    """
    earlier = refusal.earlier
    after: dict[str, Any] = {
        "earlier_client_order_id": str(earlier.client_order_id),
        "earlier_status": earlier.status,
        "attempted": refusal.attempted,
    }
    audit_record(
        actor=actor,
        action="order.duplicate_refused",
        obj=earlier,
        account=earlier.account,
        after=jsonable(after),
        via=via,
    )


@contextmanager
def duplicate_refusals_audited(*, actor: User | None, via: str) -> Iterator[None]:
    """Audit every ``OrderPossibleDuplicate`` raised inside, then let it propagate.

    Wrap a person's whole entry (the API's idempotent transaction, the admin form's submit) so
    the row is written after the entry's own transaction rolled back.
    """
    try:
        yield
    except OrderPossibleDuplicate as refusal:
        order_duplicate_refusal_record(refusal=refusal, actor=actor, via=via)
        raise
