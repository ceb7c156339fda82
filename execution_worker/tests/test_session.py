"""The TWS session: nothing is sent unless it is ready (a command read meanwhile is held, not refused),
and reconciliation asks for every execution it may have missed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from execution_worker.session import executions_since
from execution_worker.tests.harness import (
    check_ledger,
    handle_commands,
    make_ready,
    orders_for,
    place,
    publish_all,
    wait_until,
)


def test_a_place_read_before_1100_is_held_until_the_session_is_reconciled_again(worker_in_process, bus, sim):
    worker = worker_in_process
    make_ready(worker)
    order = place(quantity="8")
    bus.send(order)
    entries = worker.commands.read(16, None)
    # TWS loses its connection to IB (socket up, session not ready) while the batch is being handled.
    worker.on_error(worker.generation, -1, 1100, "Connectivity between IB and TWS has been lost.")
    worker.handle_entries(entries)
    publish_all(worker)
    time.sleep(0.2)
    assert not orders_for(sim, order.client_order_id)
    assert bus.events("order.rejected") == [] and bus.pending() == 1
    worker.on_error(worker.generation, -1, 1102, "Connectivity between IB and TWS has been restored.")
    worker.connection_step()
    assert worker.ready.is_set()
    handle_commands(worker)
    wait_until(lambda: orders_for(sim, order.client_order_id), 3, what="the order at TWS after reconciling")
    assert bus.pending() == 0
    check_ledger(sim, bus)


@pytest.mark.clock(datetime(2026, 11, 22, 0, 10, tzinfo=UTC))
def test_reconciliation_asks_for_executions_across_utc_midnight_and_from_before_the_last_one_seen():
    just_after_midnight = datetime(2026, 11, 22, 0, 10, tzinfo=UTC)
    # A fill at 23:50 during a disconnect is inside the window asked for at 00:10.
    assert executions_since(just_after_midnight, None) <= datetime(2026, 11, 21, 23, 50, tzinfo=UTC)
    last_seen = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
    assert executions_since(just_after_midnight, last_seen) < last_seen
    assert executions_since(just_after_midnight, datetime(2026, 10, 1, tzinfo=UTC)) >= just_after_midnight - timedelta(
        days=7
    )
