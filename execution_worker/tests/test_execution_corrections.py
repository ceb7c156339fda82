"""IB's execution corrections in the worker: reported as replacing what they correct, counted once (#15, finding 5)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import time_machine
from ibapi.commission_report import CommissionReport

from execution_worker.messages.executions import corrects, exec_revision
from execution_worker.tests.harness import SENT_COID, execution_of

ORIGINAL = "0000e215.656d0000.01.01"
CORRECTION = "0000e215.656d0000.01.02"


def _fills(source) -> list[dict]:
    out = []
    while not source.publisher.queue.empty():
        item = source.publisher.queue.get_nowait()
        if item[0] == "xadd" and item[2]["type"] == "order.filled":
            out.append(json.loads(item[2]["data"]))
    return out


def _report(exec_id: str, realized: float) -> CommissionReport:
    report = CommissionReport()
    report.execId, report.commission, report.currency, report.realizedPNL = exec_id, 1.0, "USD", realized
    return report


def test_ib_exec_ids_read_as_a_stem_and_a_revision():
    assert exec_revision(CORRECTION) == ("0000e215.656d0000.01", 2)
    assert exec_revision("exec-1") is None and exec_revision("e.1x") is None
    assert corrects(CORRECTION, ORIGINAL) and not corrects(ORIGINAL, CORRECTION)
    assert not corrects("0000e215.656d0001.01.02", ORIGINAL)


def test_a_correction_is_reported_with_the_exec_id_it_corrects_and_counted_once(callback_worker):
    for exec_id in (ORIGINAL, CORRECTION):
        contract, execution = execution_of(exec_id)
        callback_worker.on_execDetails(1, -1, contract, execution)

    original, corrected = _fills(callback_worker)
    assert "corrects" not in original and corrected["corrects"] == ORIGINAL
    assert corrected["exec_id"] == CORRECTION and corrected["quantity"] == "10"
    # The order's executed total (what settles an order no longer open at TWS) counts the shares once.
    assert callback_worker._exec_totals[SENT_COID] == (Decimal(10), Decimal(10) * Decimal("190.01"))


def test_an_original_arriving_after_its_correction_is_not_reported(callback_worker):
    for exec_id in (CORRECTION, ORIGINAL):
        contract, execution = execution_of(exec_id)
        callback_worker.on_execDetails(1, -1, contract, execution)

    assert [fill["exec_id"] for fill in _fills(callback_worker)] == [CORRECTION]
    assert callback_worker._exec_totals[SENT_COID][0] == Decimal(10)


@time_machine.travel("2026-11-21 18:05:00+00:00", tick=False)
def test_the_daily_loss_count_takes_the_corrections_realized_pnl_instead_of_both(callback_worker):
    contract, execution = execution_of(ORIGINAL)
    callback_worker.on_execDetails(1, -1, contract, execution)
    callback_worker.on_commissionReport(1, _report(ORIGINAL, -40.0))
    contract, execution = execution_of(CORRECTION)
    callback_worker.on_execDetails(1, -1, contract, execution)
    callback_worker.on_commissionReport(1, _report(CORRECTION, -30.0))
    # A report of an older revision, late: it no longer counts.
    callback_worker.on_commissionReport(1, _report("0000e215.656d0000.01.00", -99.0))

    assert callback_worker.gate.realized_pnl == {("DU1", date(2026, 11, 21)): Decimal(-30)}
