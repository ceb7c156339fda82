"""The ledger: every placeOrder the simulator received and every execution it sent, for tests to audit."""

from __future__ import annotations

import threading

from tws_simulator.parser import PlaceOrder


class Ledger:
    """Append-only records, written by the simulator's loop thread and read from any thread.

    ``place_orders`` items: order_id, order_ref, client_id, account, symbol, action, quantity,
    order_type, lmt_price, aux_price, tif, arrived_ns (``time.time_ns()`` taken the moment the frame was cut
    from the socket, before any processing). ``executions`` items: the execution records sent
    (exec_id, order_id, perm_id, client_id, account, symbol, side, shares, price, cum_qty, avg_price,
    order_ref, commission, time, external).
    """

    def __init__(self) -> None:
        self.place_orders: list[dict] = []
        self.executions: list[dict] = []
        self._lock = threading.Lock()

    def record_place_order(self, order: PlaceOrder, *, client_id: int, arrived_ns: int) -> None:
        self.place_orders.append(
            {
                "order_id": order.order_id,
                "order_ref": order.order_ref,
                "client_id": client_id,
                "account": order.account,
                "symbol": order.symbol,
                "action": order.action,
                "quantity": order.quantity,
                "order_type": order.order_type,
                "lmt_price": order.lmt_price,
                "aux_price": order.aux_price,
                "tif": order.tif,
                "arrived_ns": arrived_ns,
            }
        )

    def record_execution(self, execution: dict) -> None:
        self.executions.append(dict(execution))

    def snapshot(self) -> dict:
        """Return copies of both lists (safe to serialise while the simulator keeps running)."""
        with self._lock:
            return {"place_orders": list(self.place_orders), "executions": list(self.executions)}

    def clear(self) -> None:
        with self._lock:
            self.place_orders.clear()
            self.executions.clear()
