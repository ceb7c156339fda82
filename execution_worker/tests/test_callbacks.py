"""Callbacks one at a time, fed real ibapi objects: de-duplication, quarantine, external orders."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from ibapi.commission_report import CommissionReport
from ibapi.contract import Contract
from ibapi.execution import Execution
from ibapi.order import Order
from ibapi.order_state import OrderState

from execution_worker.config import WorkerConfig
from execution_worker.store import OrderRecord
from execution_worker.tests.conftest import REDIS_URL
from execution_worker.worker import Worker

COID = "6f1c2d3e-0000-4000-8000-000000000001"


@pytest.fixture
def worker(prefix):
    config = WorkerConfig(redis_url=REDIS_URL, prefix=prefix, tws_client_id=7)
    worker = Worker(config)
    worker.generation = 1
    record = OrderRecord(
        client_order_id=COID, account="DU1", symbol="AAPL", side="BUY", quantity="10", order_type="MKT", order_id=5
    )
    record.state = "sent"
    worker.book.records[COID] = record
    worker.book.by_order_id[5] = COID
    yield worker
    worker.redis.close()
    worker.command_redis.close()


def _drain(worker) -> list:
    out = []
    while not worker.publisher.queue.empty():
        item = worker.publisher.queue.get_nowait()
        if item[0] == "xadd":
            out.append(item[2]["type"])
    return out


def _execution(exec_id: str, ref: str = COID, shares: float = 10.0) -> tuple[Contract, Execution]:
    contract = Contract()
    contract.symbol = "AAPL"
    execution = Execution()
    execution.execId, execution.orderId, execution.orderRef = exec_id, 5, ref
    execution.acctNumber, execution.side, execution.shares, execution.price = "DU1", "BOT", shares, 190.01
    execution.time, execution.permId, execution.cumQty, execution.avgPrice = "20261121 18:01:10", 77, shares, 190.01
    return contract, execution


# The gate keeps realized PnL of the last few trading dates only, by the real clock: pin it to the
# execution's date, or the test fails once 2026-11-21 is more than three days ago.
@time_machine.travel("2026-11-21 18:05:00+00:00", tick=False)
def test_an_execution_and_its_commission_are_reported_once_however_often_tws_repeats_them(worker):
    contract, execution = _execution("0000e215.656d0000.01.01")
    report = CommissionReport()
    report.execId, report.commission, report.currency, report.realizedPNL = execution.execId, 1.0, "USD", -40.0
    for _ in range(2):  # live, then again through reqExecutions after a reconnect
        worker.on_execDetails(1, -1, contract, execution)
        worker.on_commissionReport(1, report)
    assert _drain(worker) == ["order.filled", "order.commission"]
    # Counted once, on the execution's trading date (18:01 UTC is 13:01 in New York, the same date).
    assert worker.gate.realized_pnl == {("DU1", date(2026, 11, 21)): Decimal(-40)}


def test_repeated_order_status_is_reported_once(worker):
    for _ in range(3):
        worker.on_orderStatus(1, 5, "Submitted", 0.0, 10.0, 0.0, 77, 0, 0.0, 7, "", 0.0)
    assert _drain(worker) == ["order.accepted", "order.status"]
    assert worker.book.records[COID].state == "Submitted" and worker.book.records[COID].perm_id == 77


def test_an_open_order_whose_order_id_contradicts_the_record_is_quarantined(worker):
    order, contract, state = Order(), Contract(), OrderState()
    order.orderRef, order.clientId, order.permId = COID, 7, 99
    contract.symbol, state.status = "AAPL", "Submitted"
    worker.on_openOrder(1, 6, contract, order, state)
    assert _drain(worker) == []
    assert worker.book.records[COID].perm_id == 0 and not worker.book.records[COID].accepted


def test_an_order_placed_in_tws_itself_is_reported_as_external_by_perm_id(worker):
    order, contract, state = Order(), Contract(), OrderState()
    order.permId, order.account, order.action, order.totalQuantity = 4242, "DU1", "SELL", 3.0
    order.orderType, order.lmtPrice = "LMT", 200.5
    contract.symbol, state.status = "MSFT", "Submitted"
    worker.on_openOrder(1, 0, contract, order, state)
    worker.on_openOrder(1, 0, contract, order, state)
    item = worker.publisher.queue.get_nowait()
    assert item[2]["type"] == "order.status"
    assert '"external":true' in item[2]["data"] and '"perm_id":4242' in item[2]["data"]
    assert worker.publisher.queue.empty()


def test_callbacks_of_a_closed_session_are_ignored(worker):
    worker.on_orderStatus(0, 5, "Filled", 10.0, 0.0, 190.0, 77, 0, 190.0, 7, "", 0.0)
    assert _drain(worker) == []
