"""Flattening a broker session as it stops: cancel its working orders, close its net position at the broker.

Called by ``trading_session_stop`` inside its transaction, on the locked session. A forward
test is flattened by the runner instead (it sees ``stopped`` with ``flatten_on_stop`` and
closes its simulated position at the last quote).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction

from accounts.models import User
from orders.models import Order, OrderSource, Side
from orders.services import order_cancel, order_submit
from orders.transitions import CANCELLABLE_STATUSES
from strategies import sql
from strategies.engine.decisions import SESSION_ORDER_NAMESPACE
from strategies.models import TradingSession
from tradeconsole.exceptions import ApplicationError


def session_flatten_client_order_id(session: TradingSession) -> uuid.UUID:
    """The ``client_order_id`` of the order that closes ``session``: one per session, so it is never sent twice.

    Derived in the namespace of the runner's decision ids (``strategies.engine.decisions``).
    """
    return uuid.uuid5(SESSION_ORDER_NAMESPACE, f"session:{session.pk}:flatten")


def session_net_position(session: TradingSession) -> Decimal:
    """The session's net shares of its instrument: its orders' fills, bought minus sold (0 without an instrument)."""
    if session.instrument_id is None:
        return Decimal("0")
    # One plain statement: read on every bar of a broker session, where the ORM's aggregate cost ~0.6 ms to compile.
    total = sql.session_net_position(session.pk, session.instrument_id)
    return Decimal("0") if total is None else total


def session_working_orders_lock(session: TradingSession) -> list[Order]:
    """Lock the session's cancellable orders; ``trading_session_stop`` takes them before the session.

    The bridge applies a fill with its order locked and then updates the order's session, so a
    flattening stop takes the same rows in the same order: the two cannot deadlock.
    """
    return list(
        Order.objects.select_for_update(of=("self",))
        .filter(trading_session=session, status__in=CANCELLABLE_STATUSES)
        .order_by("id")
    )


def session_flatten(*, session: TradingSession, actor: User | None, via: str) -> dict:
    """Cancel the session's working orders and enter a market order closing its net position; return what happened.

    Runs in the caller's transaction (each step in a savepoint), on a locked broker session. The
    closing order carries the session's derived flatten id (``session_flatten_client_order_id``)
    and ``closes_session``, so it goes from a paused session too. A refusal (kill switch, halt,
    a risk limit, no reference price, the actor's permissions) is not raised: it is returned
    under ``refused`` (code and detail) for the caller to record, and nothing of that step is
    written; a refused cancel also leaves the position open (an exit beside a working order could
    overshoot). Fills the broker reports after this (of orders whose cancel was too late) are
    not closed here: the desk sees them in the account's positions.

    Returns ``{"position": "<net shares>", "cancelled": [ids], "order": id, "side", "quantity"}``
    (``order`` only when one was entered) or with ``refused``.
    """
    outcome: dict = {"cancelled": []}
    working = Order.objects.filter(trading_session=session, status__in=CANCELLABLE_STATUSES).select_related("account")
    for order in working.order_by("id"):
        try:
            with transaction.atomic():
                order_cancel(order=order, actor=actor, reason=f"trading session {session.pk} stopped", via=via)
        except ApplicationError as refusal:
            outcome["refused"] = {"code": refusal.code, "detail": refusal.message}
            return outcome
        outcome["cancelled"].append(str(order.client_order_id))
    position = session_net_position(session)
    outcome["position"] = str(position)
    if position == 0:
        return outcome
    side, quantity = (Side.SELL, position) if position > 0 else (Side.BUY, -position)
    try:
        with transaction.atomic():
            order = order_submit(
                actor=actor,
                account=session.account,
                instrument=session.instrument,
                side=side,
                quantity=quantity,
                order_type="MKT",
                source=OrderSource.STRATEGY,
                trading_session=session,
                closes_session=True,
                client_order_id=session_flatten_client_order_id(session),
                via=via,
            )
    except ApplicationError as refusal:
        outcome["refused"] = {"code": refusal.code, "detail": refusal.message}
        return outcome
    outcome.update(order=str(order.client_order_id), side=side.value, quantity=str(quantity))
    return outcome
