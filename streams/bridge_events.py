"""Apply one of the worker's events to PostgreSQL through the services: what each event type does.

``apply_event`` runs inside the bridge's transaction (``streams.bridge``); it finds the order an
event is about (recording one the console never saw, from a strategy or TWS, when the event
describes it), calls the service of the event's type, and marks received the commands the event
proves the worker read. What it cannot apply it refuses with ``BridgeRefusal``, which the bridge
dead-letters.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from accounts.models import BrokerAccount
from execution_worker import messages as m
from orders.models import Order, OrderSource
from orders.services import order_record_broker
from orders.transitions import is_final
from streams.exceptions import BridgeRefusal, FillOfUnknownOrder
from streams.services import (
    heartbeat_record,
    outbox_acknowledge_command,
    outbox_acknowledge_once,
    tws_heartbeat_record,
)

EXECUTION = "execution"
PLACE_ONLY = ("order.place",)


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _account(code: str) -> BrokerAccount:
    account = BrokerAccount.objects.filter(code=code).first()
    if account is None:
        raise BridgeRefusal(f"unknown account {code!r}")
    return account


def _order_by_client_id(client_order_id: str) -> Order | None:
    try:
        key = uuid.UUID(client_order_id) if client_order_id else None
    except ValueError:
        return None
    return Order.objects.filter(client_order_id=key).first() if key else None


def _acknowledge(client_order_id: str, types: tuple[str, ...], command_id: str | None = None) -> None:
    """Stop the relay republishing what this event proves the worker received.

    An event naming its command (``command_id``) acknowledges exactly that command, so a status
    produced before the worker read a later modify cannot mark the modify received.
    """
    if command_id:
        outbox_acknowledge_command(message_id=command_id)
    if types:
        outbox_acknowledge_once(client_order_id=client_order_id, types=types)


def _ensure_order(message: m.OrderAccepted | m.OrderStatus | m.OrderFilled) -> Order | None:
    """Find the order an event is about, recording one the console never saw (strategy or TWS).

    An order XADDed by a strategy straight to the command stream is known by its
    ``client_order_id`` only from the worker's events; one placed in TWS by hand has no
    ``client_order_id`` and is keyed by ``perm_id``. Both are recorded when the event describes them.
    """
    order = _order_by_client_id(message.client_order_id)
    if order is None and getattr(message, "perm_id", None):
        order = Order.objects.filter(perm_id=message.perm_id).first()
    if order is not None:
        return order
    description = {
        "account": getattr(message, "account", None),
        "symbol": getattr(message, "symbol", None),
        "side": getattr(message, "side", None),
        "quantity": getattr(message, "quantity", None),
    }
    if not all(description.values()):
        return None
    external = getattr(message, "external", False) or not message.client_order_id
    return order_record_broker(
        client_order_id=message.client_order_id or None,
        account=_account(description["account"]),
        symbol=description["symbol"],
        side=description["side"],
        quantity=description["quantity"],
        order_type=getattr(message, "order_type", None) or "MKT",
        limit_price=getattr(message, "limit_price", None),
        stop_price=getattr(message, "stop_price", None),
        order_id=message.order_id,
        perm_id=getattr(message, "perm_id", None),
        source=OrderSource.EXTERNAL if external else OrderSource.STRATEGY,
        message_id=message.id,
    )


def apply_event(message: m.Message) -> None:
    """Apply one decoded event through the services (inside the caller's transaction).

    :raises ApplicationError: the services refused it (it will be dead-lettered).
    """
    from accounts import services as account_services
    from orders import services as order_services
    from orders.selectors import instrument_get

    if isinstance(message, m.OrderAccepted):
        order = order_services.order_mark_accepted(
            client_order_id=message.client_order_id, order_id=message.order_id, message_id=message.id
        )
        # A strategy's order XADDed straight to the commands: recorded from the worker's description.
        order = order or _ensure_order(message)
        _acknowledge(message.client_order_id, PLACE_ONLY, getattr(message, "command_id", None))
    elif isinstance(message, m.OrderRejected):
        # place: REJECTED; modify: its pending values cleared; cancel: the order works on.
        order = order_services.order_mark_command_rejected(
            client_order_id=message.client_order_id,
            action=message.action,
            code=message.code,
            reason=message.reason,
            message_id=message.id,
        )
        # A refusal without its command's id (an older worker) acknowledges every command of
        # that action: the worker read them and will not act on them again.
        command_id = getattr(message, "command_id", None)
        _acknowledge(message.client_order_id, () if command_id else (f"order.{message.action}",), command_id)
    elif isinstance(message, m.OrderUnknown):
        order = order_services.order_mark_unknown(
            client_order_id=message.client_order_id,
            order_id=message.order_id,
            reason=message.reason,
            message_id=message.id,
        )
        _acknowledge(message.client_order_id, PLACE_ONLY, getattr(message, "command_id", None))
    elif isinstance(message, m.OrderStatus):
        status_args = {
            "status": message.status,
            "filled": message.filled,
            "remaining": message.remaining,
            "avg_fill_price": message.avg_fill_price,
            "order_id": message.order_id,
            "perm_id": message.perm_id,
            "message_id": message.id,
            # The order as TWS's openOrder described it: what confirms a price or TIF modify.
            "terms": {"limit_price": message.limit_price, "stop_price": message.stop_price, "tif": message.tif},
        }
        # The common case first (an order we know by its id): one lookup, inside the service.
        order = None
        if message.client_order_id:
            order = order_services.order_apply_broker_status(client_order_id=message.client_order_id, **status_args)
        if order is None:
            known = _ensure_order(message)
            if known is None:
                raise BridgeRefusal(f"order.status for an unknown order (client_order_id {message.client_order_id!r})")
            order = (
                order_services.order_apply_broker_status(client_order_id=str(known.client_order_id), **status_args)
                or known
            )
        # Any status proves the worker placed the order. It proves a modify or cancel was read
        # only when it names that command, or when the order is final (nothing is left to send).
        types = ("order.place", "order.modify", "order.cancel") if is_final(order.status) else PLACE_ONLY
        _acknowledge(str(order.client_order_id), types, message.command_id)
    elif isinstance(message, m.OrderFilled):
        order = _order_by_client_id(message.client_order_id) if message.client_order_id else _ensure_order(message)
        if order is None:
            raise FillOfUnknownOrder(
                f"execution {message.exec_id} of an order the book never saw (client_order_id"
                f" {message.client_order_id!r}): not booked"
            )
        account = _account(message.account)
        instrument = order.instrument if order is not None else instrument_get(symbol=message.symbol)
        order_services.fill_record(
            exec_id=message.exec_id,
            account=account,
            instrument=instrument,
            side=message.side,
            quantity=message.quantity,
            price=message.price,
            executed_at=datetime.fromisoformat(message.time),
            order=order,
            message_id=message.id,
        )
    elif isinstance(message, m.OrderCommission):
        order_services.fill_apply_commission(
            exec_id=message.exec_id,
            commission=message.commission,
            currency=message.currency,
            realized_pnl=message.realized_pnl,
        )
    elif isinstance(message, m.PositionSnapshot):
        account = _account(message.account)
        for item in message.positions:
            instrument = instrument_get(symbol=item["symbol"], currency=item.get("currency", "USD"))
            order_services.position_record_broker(
                account=account,
                instrument=instrument,
                quantity=item["quantity"],
                average_cost=item["avg_cost"],
                reported_at=_at(message.ts),
            )
    elif isinstance(message, m.AccountValues):
        account = _account(message.account)
        account_services.account_values_update(
            account=account, values=message.values, currency=message.currency, reported_at=_at(message.ts)
        )
    elif isinstance(message, m.GatewayStatus):
        heartbeat_record(name=EXECUTION, seen_at=_at(message.ts), state=message.state, detail=message.detail)
        tws_heartbeat_record(state=message.state, detail=message.detail, seen_at=_at(message.ts))
    elif isinstance(message, m.WorkerHeartbeat):
        data = {
            "worker": message.worker,
            "in_flight": message.in_flight,
            "pacing_tokens": str(message.pacing_tokens),
            "orders_sent": message.orders_sent,
            "orders_rejected": message.orders_rejected,
            "pacing_violations": message.pacing_violations,
            "halted": list(message.halted),
            "latency_ms": message.latency_ms,
            "queue_ms": message.queue_ms,
            "gate_ms": message.gate_ms,
        }
        heartbeat_record(
            name=EXECUTION,
            seen_at=_at(message.ts),
            started_at=_at(message.started_at),
            state=message.state or None,
            data=data,
        )
        if message.state:
            # The worker's gateway state is TWS's sign of life (the worker alone talks to TWS).
            tws_heartbeat_record(state=message.state, seen_at=_at(message.ts))
    else:
        raise BridgeRefusal(f"{message.TYPE} is not an event the bridge applies")
