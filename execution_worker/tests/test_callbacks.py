"""Callbacks one at a time, fed real ibapi objects: de-duplication, quarantine, external orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import time_machine
from ibapi.commission_report import CommissionReport
from ibapi.contract import Contract
from ibapi.order import Order
from ibapi.order_state import OrderState

from execution_worker.ib_values import exec_time_iso
from execution_worker.tests.harness import SENT_COID, execution_of


def _drain(worker) -> list:
    out = []
    while not worker.publisher.queue.empty():
        item = worker.publisher.queue.get_nowait()
        if item[0] == "xadd":
            out.append(item[2]["type"])
    return out


# The gate keeps realized PnL of the last few trading dates only, by the real clock: pin it to the
# execution's date, or the test fails once 2026-11-21 is more than three days ago.
@time_machine.travel("2026-11-21 18:05:00+00:00", tick=False)
def test_an_execution_and_its_commission_are_reported_once_however_often_tws_repeats_them(callback_worker):
    contract, execution = execution_of("0000e215.656d0000.01.01")
    report = CommissionReport()
    report.execId, report.commission, report.currency, report.realizedPNL = execution.execId, 1.0, "USD", -40.0
    for _ in range(2):  # live, then again through reqExecutions after a reconnect
        callback_worker.on_execDetails(1, -1, contract, execution)
        callback_worker.on_commissionReport(1, report)
    assert _drain(callback_worker) == ["order.filled", "order.commission"]
    # Counted once, on the execution's trading date (18:01 UTC is 13:01 in New York, the same date).
    assert callback_worker.gate.realized_pnl == {("DU1", date(2026, 11, 21)): Decimal(-40)}


def test_repeated_order_status_is_reported_once(callback_worker):
    for _ in range(3):
        callback_worker.on_orderStatus(1, 5, "Submitted", 0.0, 10.0, 0.0, 77, 0, 0.0, 7, "", 0.0)
    assert _drain(callback_worker) == ["order.accepted", "order.status"]
    record = callback_worker.book.records[SENT_COID]
    assert record.state == "Submitted" and record.perm_id == 77


def test_an_open_order_whose_order_id_contradicts_the_record_is_quarantined(callback_worker):
    order, contract, state = Order(), Contract(), OrderState()
    order.orderRef, order.clientId, order.permId = SENT_COID, 7, 99
    contract.symbol, state.status = "AAPL", "Submitted"
    callback_worker.on_openOrder(1, 6, contract, order, state)
    assert _drain(callback_worker) == []
    record = callback_worker.book.records[SENT_COID]
    assert record.perm_id == 0 and not record.accepted


def test_an_order_placed_in_tws_itself_is_reported_as_external_by_perm_id(callback_worker):
    order, contract, state = Order(), Contract(), OrderState()
    order.permId, order.account, order.action, order.totalQuantity = 4242, "DU1", "SELL", 3.0
    order.orderType, order.lmtPrice = "LMT", 200.5
    contract.symbol, state.status = "MSFT", "Submitted"
    callback_worker.on_openOrder(1, 0, contract, order, state)
    callback_worker.on_openOrder(1, 0, contract, order, state)
    item = callback_worker.publisher.queue.get_nowait()
    assert item[2]["type"] == "order.status"
    assert '"external":true' in item[2]["data"] and '"perm_id":4242' in item[2]["data"]
    assert callback_worker.publisher.queue.empty()


def test_callbacks_of_a_closed_session_are_ignored(callback_worker):
    callback_worker.on_orderStatus(0, 5, "Filled", 10.0, 0.0, 190.0, 77, 0, 190.0, 7, "", 0.0)
    assert _drain(callback_worker) == []


def test_an_execution_time_with_tws_zone_suffix_is_converted_to_utc():
    assert exec_time_iso("20261121 18:01:10 US/Eastern") == "2026-11-21T23:01:10Z"
    assert exec_time_iso("20261121  18:01:10 UTC") == "2026-11-21T18:01:10Z"
    assert exec_time_iso("20261121 18:01:10") == "2026-11-21T18:01:10Z"
