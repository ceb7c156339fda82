"""The order book: every order the worker knows (records), its IB id maps and the highest orderId allocated."""

from __future__ import annotations

import threading

from execution_worker.store import OrderRecord


class OrderBook:
    """The orders as the worker knows them, shared by every thread.

    The command thread adds and allocates, ibapi's callback thread and the connection thread (on
    reconcile) update, housekeeping prunes: each reads and changes them under ``lock``. The lock is
    re-entrant and callers hold it while they change state of their own that must move with a record
    (the last status of an order, the executions of a reconcile). Redis holds the durable copy
    (``Store``); ``Publisher.persist`` writes a change there.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.records: dict[str, OrderRecord] = {}
        self.by_order_id: dict[int, str] = {}
        self.by_perm_id: dict[int, str] = {}
        # The highest orderId ever allocated (kept in Redis even when its orders are pruned) and the
        # next id TWS said it will take: a new orderId is above both.
        self.max_order_id = 0
        self.next_valid_id = 0

    def load(self, records: dict[str, OrderRecord], max_order_id: int) -> None:
        """Take the records and highest orderId read from Redis at start, and index them by IB ids."""
        with self.lock:
            self.records = records
            self.max_order_id = max_order_id
            for record in records.values():
                if record.order_id:
                    self.by_order_id[record.order_id] = record.client_order_id
                    self.max_order_id = max(self.max_order_id, record.order_id)
                if record.perm_id:
                    self.by_perm_id[record.perm_id] = record.client_order_id

    def allocate(self, count: int = 1) -> int:
        """Reserve ``count`` consecutive fresh orderIds and return the first; call under ``lock``."""
        first = max(self.next_valid_id, self.max_order_id + 1)
        self.max_order_id = first + count - 1
        return first
