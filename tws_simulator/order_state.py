"""An order as the simulator keeps it: its states, its record, and the openOrder/orderStatus that report it."""

from __future__ import annotations

from tws_simulator import encoder as enc

WORKING = frozenset({"PendingSubmit", "PreSubmitted", "Submitted", "PendingCancel"})
HELD = "Untransmitted"  # in TWS but not transmitted: never reported to the API
LIVE = frozenset({"PendingSubmit", "PreSubmitted", "Submitted"})
ORDER_TYPES = frozenset({"MKT", "LMT", "STP", "STP LMT"})


def status_frame(order: dict, status: str | None = None) -> bytes:
    """The orderStatus of ``order`` (with its own status unless ``status`` is given)."""
    return enc.order_status(
        order_id=order["order_id"],
        status=status or order["status"],
        filled=order["filled"],
        remaining=max(0.0, order["quantity"] - order["filled"]),
        avg_fill_price=order["avg_fill_price"],
        perm_id=order["perm_id"],
        parent_id=order["parent_id"],
        last_fill_price=order["last_fill_price"],
        client_id=order["client_id"],
    )


def order_frames(order: dict) -> list[tuple[str, bytes]]:
    """openOrder + orderStatus of ``order`` as it stands."""
    return [("openOrder", enc.open_order(order, order["status"])), ("orderStatus", status_frame(order))]


def new_order(
    *,
    order_id: int,
    client_id: int,
    perm_id: int,
    con_id: int,
    symbol: str,
    account: str,
    action: str,
    quantity: float,
    status: str,
    exchange: str = "SMART",
    order_type: str = "MKT",
    lmt_price: float | None = None,
    aux_price: float | None = None,
    tif: str = "DAY",
    oca_group: str = "",
    order_ref: str = "",
    parent_id: int = 0,
    outside_rth: bool = False,
    transmit: bool = True,
    external: bool = False,
) -> dict:
    """A new order record with no fills yet (the form the state file keeps)."""
    return {
        "order_id": order_id,
        "client_id": client_id,
        "perm_id": perm_id,
        "con_id": con_id,
        "symbol": symbol,
        "exchange": exchange,
        "currency": "USD",
        "account": account,
        "action": action,
        "quantity": quantity,
        "order_type": order_type,
        "lmt_price": lmt_price,
        "aux_price": aux_price,
        "tif": tif,
        "oca_group": oca_group,
        "order_ref": order_ref,
        "parent_id": parent_id,
        "outside_rth": outside_rth,
        "transmit": transmit,
        "status": status,
        "filled": 0.0,
        "avg_fill_price": 0.0,
        "last_fill_price": 0.0,
        "commission_charged": 0.0,
        "triggered": False,
        "hold": False,
        "external": external,
    }
