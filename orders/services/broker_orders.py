"""Orders the console learns of only from the broker's events: a strategy's ``order.place`` sent
straight to the command stream, or an order someone placed in TWS by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import BrokerAccount
from accounts.services import audit_record
from execution_worker.messages import DEFAULT_ORDER_TYPE, ORDER_TYPES
from orders.models import Order, OrderStatus
from orders.selectors import instrument_get
from orders.services.events import OrderEventKind, order_event_record


@transaction.atomic
def order_record_broker(
    *,
    client_order_id: str | None,
    account: BrokerAccount,
    symbol: str,
    side: str,
    quantity: Decimal | str,
    order_type: str = DEFAULT_ORDER_TYPE,
    limit_price: Decimal | None = None,
    stop_price: Decimal | None = None,
    order_id: int | None = None,
    perm_id: int | None = None,
    source: str,
    message_id: Any = None,
) -> Order:
    """Record an order the console learns of only from the broker's events, and return it.

    Two cases (design.md): a strategy XADDed ``order.place`` straight to the command stream
    (``source="strategy"``, known by its ``client_order_id``), or someone placed it in TWS by hand
    (``source="external"``, no ``client_order_id`` of ours: keyed by ``perm_id``, a fresh UUID is
    minted for the row). Idempotent: an order already recorded under that id is returned as is.
    The row starts ``SUBMITTED`` (the broker has it) with a ``recorded_from_broker`` event and an
    audit row; the event that revealed it (``message_id``, not stored here: that event's own
    record carries it) then moves it on. An order type the console does not know is kept as
    ``MKT``.

    :raises InstrumentUnknown: ``symbol`` names no instrument of the desk.
    """
    existing = None
    if client_order_id:
        existing = Order.objects.select_for_update().filter(client_order_id=client_order_id).first()
    elif perm_id:
        existing = Order.objects.select_for_update().filter(perm_id=perm_id).first()
    if existing is not None:
        return existing
    instrument = instrument_get(symbol=symbol)
    fields = {
        "account": account,
        "instrument": instrument,
        "side": side,
        "quantity": quantity,
        "order_type": order_type if order_type in ORDER_TYPES else DEFAULT_ORDER_TYPE,
        "limit_price": limit_price,
        "stop_price": stop_price,
        "source": source,
        "status": OrderStatus.SUBMITTED,
        "ib_order_id": order_id,
        "perm_id": perm_id,
        "submitted_at": timezone.now(),
    }
    if client_order_id:
        fields["client_order_id"] = client_order_id
    order = Order.objects.create(**fields)
    order_event_record(
        order=order,
        kind=OrderEventKind.RECORDED_FROM_BROKER,
        to_status=order.status,
        detail=f"{source} order first seen in the broker's events",
        data={"order_id": order_id, "perm_id": perm_id},
    )
    audit_record(
        actor=None,
        action="order.record_broker",
        obj=order,
        account=account,
        after={"source": source, "perm_id": perm_id, "client_order_id": str(order.client_order_id)},
        via="bridge",
    )
    return order
