"""The risk gate decides from memory: halts, unknown accounts, limits, collar, rate and duplicates;
in the worker, working orders count towards the position limit."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine

from execution_worker import messages as m
from execution_worker.risk import GLOBAL, Limits, LimitsError, RiskGate, trading_date
from execution_worker.tests.harness import handle_commands, make_ready, orders_for, place, publish_all, wait_until

# The trading date is read from the clock at each call: tests about it run at a pinned midday, so
# that no run straddles New York's midnight between recording PnL and reading it.
DESK_MIDDAY = "2026-11-18 12:00:00-05:00"


def _order(**overrides) -> m.OrderPlace:
    values = {
        "client_order_id": str(uuid.uuid4()),
        "account": "DU1",
        "symbol": "AAPL",
        "side": "BUY",
        "quantity": Decimal(10),
        "order_type": "LMT",
        "limit_price": Decimal("100"),
    }
    values.update(overrides)
    return m.OrderPlace(**values)


def _gate(**limits) -> RiskGate:
    gate = RiskGate()
    gate.set_accounts({"DU1"})
    gate.set_limits("DU1", Limits.from_json(json.dumps(limits)))
    gate.set_last_price("AAPL", Decimal("100"))
    return gate


def _code(gate, order, now=0.0):
    refusal = gate.admit(order, now)
    return None if refusal is None else refusal.code


def test_an_order_within_every_limit_is_admitted():
    gate = _gate(max_order_quantity=100, max_order_notional=5000, price_collar_pct=5, orders_per_minute=10)
    assert _code(gate, _order()) is None


def test_a_global_halt_refuses_every_account_and_an_account_halt_only_that_one():
    gate = _gate()
    gate.set_accounts({"DU1", "DU2"})
    gate.set_limits("DU2", Limits())
    gate.set_halts({"DU1": "ops"})
    assert _code(gate, _order()) == "risk.halted"
    assert _code(gate, _order(account="DU2")) is None
    gate.set_halts({GLOBAL: "kill switch"})
    assert _code(gate, _order(account="DU2", quantity=Decimal(11))) == "risk.halted"


def test_an_account_tws_does_not_manage_is_refused():
    assert _code(_gate(), _order(account="DU9")) == "risk.unknown_account"


def test_an_account_without_published_limits_is_refused_fail_closed():
    gate = RiskGate()
    gate.set_accounts({"DU1"})
    assert _code(gate, _order()) == "risk.no_limits"
    assert RiskGate(require_limits=False).admit(_order(), 0.0).code == "risk.unknown_account"


def test_quantity_over_the_limit_is_refused():
    assert _code(_gate(max_order_quantity=5), _order()) == "risk.max_quantity"


def test_notional_over_the_limit_is_refused_and_a_market_order_is_valued_at_the_last_price():
    gate = _gate(max_order_notional="999.99")
    assert _code(gate, _order()) == "risk.max_notional"
    assert _code(gate, _order(order_type="MKT", limit_price=None, quantity=Decimal(9))) is None
    assert (
        _code(gate, _order(order_type="MKT", limit_price=None, quantity=Decimal(11), side="SELL"))
        == "risk.max_notional"
    )


def test_a_market_order_without_any_last_price_is_refused_when_notional_is_limited():
    gate = _gate(max_order_notional=10_000)
    assert _code(gate, _order(symbol="MSFT", order_type="MKT", limit_price=None)) == "risk.max_notional"


def test_a_price_outside_the_collar_is_refused():
    gate = _gate(price_collar_pct=5)
    assert _code(gate, _order(limit_price=Decimal("105"))) is None
    assert _code(gate, _order(limit_price=Decimal("105.01"))) == "risk.price_collar"
    assert _code(gate, _order(limit_price=Decimal("94"), side="SELL")) == "risk.price_collar"


def test_a_limit_order_without_a_last_price_is_refused_by_the_collar():
    assert _code(_gate(price_collar_pct=5), _order(symbol="MSFT")) == "risk.price_collar"


def test_the_rate_limit_counts_admitted_orders_over_a_sliding_minute():
    gate = _gate(orders_per_minute=3)
    for i in range(3):
        assert _code(gate, _order(quantity=Decimal(i + 1)), now=float(i)) is None
    assert _code(gate, _order(quantity=Decimal(50)), now=10.0) == "risk.rate"
    assert _code(gate, _order(quantity=Decimal(50)), now=60.5) is None


def test_the_same_order_within_two_seconds_is_a_duplicate():
    gate = _gate()
    assert _code(gate, _order(), now=100.0) is None
    assert _code(gate, _order(), now=101.9) == "risk.duplicate"
    assert _code(gate, _order(), now=104.0) is None


def test_an_order_admitted_again_is_not_its_own_duplicate_nor_counted_twice():
    # A redelivery after a failed record: the same client_order_id, admitted once.
    gate = _gate(orders_per_minute=1)
    order = _order()
    assert _code(gate, order, now=100.0) is None
    assert _code(gate, order, now=100.5) is None
    assert _code(gate, _order(), now=101.0) == "risk.rate"


def test_a_symbol_outside_the_allowed_list_is_refused():
    gate = _gate(allowed_symbols=["msft"])
    assert _code(gate, _order()) == "risk.symbol_not_allowed"


def test_max_position_counts_the_current_position_and_side():
    gate = _gate(max_position=15)
    gate.set_position("DU1", "AAPL", Decimal(10))
    assert _code(gate, _order()) == "risk.max_position"
    assert _code(gate, _order(side="SELL", quantity=Decimal(20))) is None


@time_machine.travel(DESK_MIDDAY, tick=True)
def test_reaching_the_daily_loss_stops_new_orders():
    gate = _gate(max_daily_loss=100)
    gate.add_realized_pnl("DU1", Decimal("-60"))
    assert _code(gate, _order()) is None
    gate.add_realized_pnl("DU1", Decimal("-40"))
    assert _code(gate, _order(quantity=Decimal(3))) == "risk.max_daily_loss"


def test_unreadable_limits_are_refused_with_the_reason():
    gate = _gate()
    gate.set_limits("DU1", None, "max_order_quantity must be a number")
    refusal = gate.admit(_order(), 0.0)
    assert refusal.code == "risk.no_limits" and "must be a number" in refusal.reason


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{bad",
        '{"max_order_quantity": -1}',
        '{"max_order_quantity": "x"}',
        '{"allowed_symbols": "AAPL"}',
        '{"max_order_notional": true}',
    ],
)
def test_malformed_limits_raise(text):
    with pytest.raises(LimitsError):
        Limits.from_json(text)


def test_null_limits_mean_no_limit_and_unknown_keys_are_ignored():
    limits = Limits.from_json('{"max_order_quantity": null, "note": "x", "orders_per_minute": "30"}')
    assert limits.max_order_quantity is None and limits.orders_per_minute == 30


@time_machine.travel(DESK_MIDDAY, tick=True)
def test_the_daily_loss_counts_only_todays_trading_date():
    gate = _gate(max_daily_loss=100)
    yesterday = trading_date() - timedelta(days=1)
    gate.add_realized_pnl("DU1", Decimal("-500"), yesterday)
    assert _code(gate, _order()) is None
    gate.add_realized_pnl("DU1", Decimal("-100"), trading_date())
    assert _code(gate, _order(quantity=Decimal(3))) == "risk.max_daily_loss"
    assert gate.realized_today("DU1") == Decimal("-100")


def test_the_trading_date_is_new_yorks():
    # 03:00 UTC on the 22nd is still the evening of the 21st in New York.
    assert trading_date(datetime(2026, 11, 22, 3, 0, tzinfo=UTC)) == date(2026, 11, 21)


def test_max_position_counts_working_orders_on_the_same_side_as_if_filled():
    gate = _gate(max_position=15)
    assert _code(gate, _order()) is None
    refusal = gate.admit(_order(quantity=Decimal(6)), 10.0, working=Decimal(10))
    assert refusal.code == "risk.max_position"
    assert gate.admit(_order(quantity=Decimal(5)), 20.0, working=Decimal(10)) is None


def test_a_second_order_that_with_a_working_one_would_pass_max_position_is_refused(worker_in_process, bus, sim):
    worker = worker_in_process
    bus.set_limits(max_order_quantity=1000, max_position=15)
    make_ready(worker)
    working = place(quantity="10", order_type="LMT", limit_price=Decimal("100"))
    bus.send(working)
    handle_commands(worker)
    wait_until(
        lambda: publish_all(worker) or worker.book.records[working.client_order_id].state == "Submitted",
        3,
        what="working",
    )
    more, other_side = place(quantity="10"), place(quantity="10", side="SELL")
    bus.send(more, other_side)
    handle_commands(worker)
    assert bus.wait_event("order.rejected", client_order_id=more.client_order_id).code == "risk.max_position"
    wait_until(lambda: orders_for(sim, other_side.client_order_id), 3, what="the sell at TWS")
