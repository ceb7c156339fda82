"""The gate's quantity increments (issue 16 #2): 1.5 shares of a stock never reach TWS.

``order.place`` may carry ``min_quantity`` and ``quantity_increment``; without them a stock
trades in whole shares (a strategy XADDing directly knows no instrument table).
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

import pytest

from execution_worker import messages as m
from execution_worker.risk import Limits, RiskGate, check_quantity_increment
from execution_worker.tests.harness import ACCOUNT, check_ledger, orders_for, place


def _order(**overrides) -> m.OrderPlace:
    values = {
        "client_order_id": str(uuid.uuid4()),
        "account": "DU1",
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": Decimal("1.5"),
        "order_type": "MKT",
    }
    values.update(overrides)
    return m.OrderPlace(**values)


def _code(order) -> str | None:
    refusal = check_quantity_increment(order)
    return None if refusal is None else refusal.code


def test_a_stock_without_increment_keys_trades_in_whole_shares():
    refusal = check_quantity_increment(_order())
    assert refusal is not None and refusal.code == "order.quantity_increment"
    assert "increments of 1" in refusal.reason and "1.5" in refusal.reason
    assert _code(_order(quantity=Decimal(2))) is None


def test_the_keys_of_order_place_set_the_increment_and_the_minimum():
    assert _code(_order(quantity_increment=Decimal("0.5"), min_quantity=Decimal("0.5"))) is None
    assert _code(_order(quantity=Decimal("0.25"), quantity_increment=Decimal("0.25"))) is None
    below = _order(quantity=Decimal("0.25"), quantity_increment=Decimal("0.25"), min_quantity=Decimal(1))
    assert _code(below) == "order.quantity_increment"
    assert _code(_order(quantity=Decimal(350), quantity_increment=Decimal(100))) == "order.quantity_increment"


def test_another_security_type_without_the_keys_is_not_checked():
    assert _code(_order(sec_type="CASH", quantity=Decimal("1000.5"))) is None


def test_the_gate_refuses_a_fractional_stock_order_and_does_not_count_it():
    gate = RiskGate()
    gate.set_accounts({"DU1"})
    gate.set_limits("DU1", Limits.from_json(json.dumps({"orders_per_minute": 1})))
    refusal = gate.admit(_order(), 0.0)
    assert refusal is not None and refusal.code == "order.quantity_increment"
    # Not counted against the rate: the next (whole) order still passes.
    assert gate.admit(_order(quantity=Decimal(1)), 0.0) is None


def test_the_increment_keys_are_optional_positive_decimals_in_the_contract():
    data = {"client_order_id": str(uuid.uuid4()), "account": "DU1", "symbol": "AAPL", "side": "BUY", "quantity": "3"}
    fields = {"v": "1", "type": "order.place", "id": str(uuid.uuid4()), "ts": str(time.time_ns())}
    plain = m.decode({**fields, "data": json.dumps(data)})
    assert (plain.min_quantity, plain.quantity_increment) == (None, None)
    keyed = m.decode({**fields, "data": json.dumps({**data, "min_quantity": "1", "quantity_increment": "0.5"})})
    assert (keyed.min_quantity, keyed.quantity_increment) == (Decimal(1), Decimal("0.5"))
    with pytest.raises(m.MessageError):
        m.decode({**fields, "data": json.dumps({**data, "quantity_increment": "0"})})


def test_the_worker_refuses_fractional_shares_before_tws_sees_them(sim, bus, start_worker):
    start_worker(bus)
    typed = place(quantity="1.5")
    bus.send(typed)
    # A strategy's own XADD, as raw fields with no increment keys.
    raw_id = str(uuid.uuid4())
    data = {"client_order_id": raw_id, "account": ACCOUNT, "symbol": "AAPL", "side": "BUY", "quantity": "2.5"}
    bus.send_raw(
        {"v": "1", "type": "order.place", "id": str(uuid.uuid4()), "ts": str(time.time_ns()), "data": json.dumps(data)}
    )
    # An instrument that says half shares are fine.
    halves = place(quantity="1.5", quantity_increment=Decimal("0.5"), min_quantity=Decimal("0.5"))
    bus.send(halves)

    for coid in (typed.client_order_id, raw_id):
        rejected = bus.wait_event("order.rejected", client_order_id=coid)
        assert rejected.code == "order.quantity_increment"
        assert "increments of 1" in rejected.reason
        assert not orders_for(sim, coid)
    bus.wait_event("order.accepted", client_order_id=halves.client_order_id)
    assert len(orders_for(sim, halves.client_order_id)) == 1
    check_ledger(sim, bus)
