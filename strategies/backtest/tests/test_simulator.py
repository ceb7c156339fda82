"""The fill rule: bar t's decision fills at bar t+1's open; exits within a bar by its high and low, the worse first."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from marketdata import sessions
from strategies.backtest.fees import FeeModel
from strategies.backtest.simulator import Simulator
from strategies.backtest.slippage import SlippageModel
from strategies.engine import Decision

# The dates below are the data's own; the clock is pinned beside them all the same.
pytestmark = pytest.mark.clock(datetime(2026, 3, 3, 16, 0, tzinfo=UTC))

T0 = sessions.calendar().on(date(2026, 3, 3)).open


def decision(action, i, *, quantity=10, sizing=None, **exits):
    return Decision(
        action=action,
        symbol="AAPL",
        bar_time=T0 + 60 * i,
        node=action,
        sizing=sizing or {"kind": "fixed_quantity", "quantity": quantity},
        quantity=quantity,
        **exits,
    )


def run(rows, decisions, *, cash=10_000.0, slippage=None, fees="none"):
    """Simulate ``rows`` of (open, high, low, close), bar i at T0 + 60 i, with ``decisions`` by bar index."""
    sim = Simulator("AAPL", cash, FeeModel(fees), slippage or SlippageModel())
    times = [T0 + 60 * i for i in range(len(rows))]
    columns = [list(column) for column in zip(*rows, strict=True)]
    sim.run(times, *columns, {d.bar_time: d for d in decisions})
    return sim


def test_a_decision_fills_at_the_next_bars_open_never_its_own_close():
    rows = [(10, 10.5, 9.5, 10.2), (10.4, 10.9, 10.3, 10.8), (10.8, 11, 10.7, 10.9)]
    sim = run(rows, [decision("buy", 0)])
    assert sim.open_trade.entry_time == T0 + 60 and sim.open_trade.entry_price == 10.4
    assert sim.open_trade.decided_at == T0
    # Bar 0 closed flat; bar 1 bought 10 at 10.40 and closed at 10.80: 10,000 - 104 + 108 = 10,004.
    assert sim.equity == pytest.approx([10_000.0, 10_004.0, 10_005.0])
    assert sim.bars_in_position == 2


def test_a_decision_on_the_last_bar_is_still_pending():
    sim = run([(10, 10, 10, 10)], [decision("buy", 0)])
    assert sim.pending is not None and sim.side == 0 and sim.trades == []


def test_a_close_decision_exits_at_the_next_open_with_fees_and_slippage_against_the_trader():
    rows = [(10, 10, 10, 10), (20, 20, 20, 20), (21, 22, 20, 21.5), (22, 22, 22, 22)]
    sim = run(rows, [decision("buy", 0, quantity=100), decision("close", 2)], slippage=SlippageModel("ticks", 1))
    (trade,) = sim.trades
    # Bought 100 at 20 + 0.01; sold at 22 - 0.01. Fixed fees off here: PnL = 100 x (21.99 - 20.01) = 198.
    assert (trade.entry_price, trade.exit_price, trade.exit_reason) == (20.01, 21.99, "signal")
    assert trade.pnl == pytest.approx(198.0)
    assert sim.cash == pytest.approx(10_198.0)


def test_fees_are_taken_from_cash_and_from_the_trades_pnl():
    rows = [(10, 10, 10, 10), (20, 20, 20, 20), (21, 22, 20, 21.5), (22, 22, 22, 22)]
    sim = run(rows, [decision("buy", 0, quantity=100), decision("close", 2)], fees="fixed")
    (trade,) = sim.trades
    # Fixed: 100 x $0.005 = $0.50 -> $1.00 minimum each way; the sale adds SEC $2,200 x 27.80e-6 = $0.06116
    # and FINRA TAF 100 x $0.000166 = $0.0166. PnL = 200 - 1 - 1.07776 = 197.92224.
    assert (trade.entry_fee, trade.exit_fee) == (pytest.approx(1.0), pytest.approx(1.07776))
    assert trade.pnl == pytest.approx(197.92224)
    assert sim.fees_paid == pytest.approx(2.07776)


def test_a_stop_loss_exits_at_its_level_within_the_bar():
    # Entry at 100 on bar 1, a 2% stop at 98; bar 2 reaches 97.50.
    rows = [(100, 100, 100, 100), (100, 100.5, 99, 100), (99.5, 101, 97.5, 98.5)]
    sim = run(rows, [decision("buy", 0, stop_loss={"mode": "percent", "percent": 2.0})])
    (trade,) = sim.trades
    assert (trade.exit_time, trade.exit_price, trade.exit_reason) == (T0 + 120, 98.0, "stop_loss")
    assert trade.pnl == pytest.approx(-20.0)


def test_a_bar_opening_beyond_the_stop_exits_at_its_open():
    rows = [(100, 100, 100, 100), (100, 100.5, 99, 100), (96, 97, 95, 96.5)]
    sim = run(rows, [decision("buy", 0, stop_loss={"mode": "percent", "percent": 2.0})])
    assert sim.trades[0].exit_price == 96.0


def test_a_bar_touching_both_the_stop_and_the_target_takes_the_stop():
    # Stop 98 (2%), target 103 (3%); bar 2 reaches 104 and 97: the path is unknown, the worse comes first.
    rows = [(100, 100, 100, 100), (100, 100.5, 99, 100), (100, 104, 97, 101)]
    sim = run(
        rows,
        [
            decision(
                "buy", 0, stop_loss={"mode": "percent", "percent": 2.0}, take_profit={"mode": "percent", "percent": 3.0}
            )
        ],
    )
    assert (sim.trades[0].exit_price, sim.trades[0].exit_reason) == (98.0, "stop_loss")


def test_a_take_profit_is_a_limit_at_its_price_not_slipped():
    rows = [(100, 100, 100, 100), (100, 100.5, 99, 100), (101, 103.5, 100.5, 103)]
    sim = run(
        rows, [decision("buy", 0, take_profit={"mode": "percent", "percent": 3.0})], slippage=SlippageModel("ticks", 1)
    )
    (trade,) = sim.trades
    assert (trade.entry_price, trade.exit_price, trade.exit_reason) == (100.01, 103.0, "take_profit")


def test_a_trailing_stop_follows_the_best_high_of_the_bars_before():
    # Entry 100, trail 1% = $1. Bar 1: stop 99, low 99.6, best -> 100.5. Bar 2: stop 99.5, low 99.8, best -> 102.
    # Bar 3: stop 101, low 100.9: out at 101.
    rows = [(100, 100, 100, 100), (100, 100.5, 99.6, 100.2), (100.2, 102, 99.8, 101.8), (101.5, 101.6, 100.9, 101)]
    sim = run(rows, [decision("buy", 0, trailing_stop={"mode": "percent", "percent": 1.0})])
    (trade,) = sim.trades
    assert (trade.exit_time, trade.exit_price, trade.exit_reason) == (T0 + 180, 101.0, "trailing_stop")


def test_a_short_is_stopped_above_and_reversed_by_a_buy():
    rows = [(50, 50, 50, 50), (50, 50.2, 49.5, 49.8), (49.8, 50, 49, 49.2), (49, 49.5, 48.8, 49.4), (49.5, 52, 49, 51)]
    decisions = [decision("sell", 0, stop_loss={"mode": "atr", "atr_multiple": 2, "atr": 1, "distance": 2.0})]
    decisions.append(decision("buy", 2))
    sim = run(rows, decisions)
    (short,) = sim.trades
    # Sold 10 at 50 on bar 1; the buy of bar 2 covers at bar 3's open 49 and goes long there.
    assert (short.side, short.entry_price, short.exit_price, short.exit_reason) == ("short", 50, 49, "reverse")
    assert short.pnl == pytest.approx(10.0)
    assert (sim.side, sim.open_trade.entry_price, sim.open_trade.entry_time) == (1, 49, T0 + 180)


def test_percent_of_equity_sizes_from_cash_and_a_zero_size_makes_no_trade():
    rows = [(10, 10, 10, 10), (40, 40, 40, 40), (40, 40, 40, 40)]
    sizing = {"kind": "percent_of_equity", "percent": 10.0}
    # 10% of $10,000 at $40 = 25 shares.
    assert run(rows, [decision("buy", 0, sizing=sizing)]).quantity == 25
    poor = run(rows, [decision("buy", 0, sizing=sizing)], cash=100.0)
    # 10% of $100 buys no $40 share: the position is held at zero shares, no trade, no exposure.
    assert (poor.side, poor.quantity, poor.open_trade, poor.bars_in_position) == (1, 0, None, 0)


def test_risk_per_trade_sizes_by_the_stop_distance():
    rows = [(10, 10, 10, 10), (50, 50, 50, 50), (50, 50, 50, 50)]
    sizing = {"kind": "risk_per_trade", "percent": 1.0}
    # 1% of $10,000 = $100 at risk; a 2% stop from $50 is $1 a share: 100 shares.
    sim = run(rows, [decision("buy", 0, sizing=sizing, stop_loss={"mode": "percent", "percent": 2.0})])
    assert sim.quantity == 100
