"""A session's figures (strategies.session_metrics): a small curve worked out by hand, and the bar-by-bar
form agreeing with the whole-curve form on a random one."""

from __future__ import annotations

import json
import math
import random

import pytest

from strategies.session_metrics import RunningFigures, SessionFigures, figures, max_drawdown_amount

# Six one-minute bars from 1,000: up 10, down 5, down 15, up 30, down 20, up 30.
START = 1000.0
CURVE = [1010.0, 1005.0, 990.0, 1020.0, 1000.0, 1030.0]
TRADES = [15.0, -20.0, 40.0]  # realized 35
OPEN_PNL = -5.0  # so equity 1000 + 35 - 5 = 1030, the curve's last point
ONE_MINUTE = 60
# Worked out by hand: returns 10/1000, -5/1010, -15/1005, 30/990, -20/1020, 30/1000;
# mean 0.0051365532, sample std 0.0218710322; 252 sessions x 390 bars = 98,280 bars a year.
SHARPE = 0.005136553163657015 / 0.021871032220986835 * math.sqrt(98_280)  # 73.6266568...


def test_the_figures_of_a_six_bar_curve_are_the_ones_worked_out_by_hand():
    got = figures(START, CURVE, TRADES, OPEN_PNL, ONE_MINUTE)

    assert got.realized == 35.0
    assert got.unrealized == -5.0
    assert got.equity == 1030.0
    # Peaks 1000, 1010, 1010, 1010, 1020, 1020, 1030: falls 0, 0, 5, 20, 0, 20, 0.
    assert got.max_drawdown == 20.0
    assert got.peak_pnl == 30.0
    assert (got.trade_count, got.win_count) == (3, 2)
    assert got.win_rate == pytest.approx(2 / 3)
    assert got.sharpe == pytest.approx(SHARPE, rel=1e-9)
    assert got.sharpe == pytest.approx(73.62665684, rel=1e-8)


def test_the_running_figures_of_the_six_bars_are_the_same():
    running = RunningFigures(START, ONE_MINUTE)
    for pnl in TRADES:
        running.on_trade(pnl)
    for equity in CURVE:
        running.on_bar(equity, open_pnl=OPEN_PNL)

    got = running.snapshot()

    assert (got.realized, got.unrealized, got.equity) == (35.0, -5.0, 1030.0)
    assert (got.max_drawdown, got.peak_pnl) == (20.0, 30.0)
    assert (got.trade_count, got.win_count) == (3, 2)
    assert got.sharpe == pytest.approx(SHARPE, rel=1e-9)


def test_the_drawdown_is_the_largest_fall_in_money_not_the_largest_as_a_fraction():
    # 100 -> 50 is half the peak (50 in money); 1,000 -> 900 is a tenth (100 in money).
    curve = [50.0, 1000.0, 900.0]

    assert max_drawdown_amount([100.0, *curve]) == 100.0
    assert figures(100.0, curve, [], 0.0, ONE_MINUTE).max_drawdown == 100.0


def test_a_session_that_never_rose_has_no_peak_pnl_and_no_sharpe_before_two_returns():
    got = figures(1000.0, [990.0], [], -10.0, ONE_MINUTE)

    assert got.peak_pnl == 0.0
    assert got.max_drawdown == 10.0
    assert got.win_rate is None
    assert got.sharpe is None


def test_a_flat_curve_has_no_sharpe_either_way():
    running = RunningFigures(1000.0, ONE_MINUTE)
    for _ in range(5):
        running.on_bar(1000.0)

    assert figures(1000.0, [1000.0] * 5, [], 0.0, ONE_MINUTE).sharpe is None
    assert running.snapshot().sharpe is None
    assert running.snapshot().max_drawdown == 0.0


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_the_running_figures_equal_the_whole_curve_figures_on_a_random_curve(seed):
    rng = random.Random(seed)
    equity, curve, trades = 25_000.0, [], []
    running = RunningFigures(25_000.0, 300)
    for _ in range(2_000):
        if rng.random() < 0.05:
            pnl = rng.gauss(5, 80)
            trades.append(pnl)
            running.on_trade(pnl)
        equity += rng.gauss(0.5, 40)
        curve.append(equity)
        running.on_bar(equity, open_pnl=equity - 25_000.0 - sum(trades))

    batch = figures(25_000.0, curve, trades, equity - 25_000.0 - sum(trades), 300)
    live = running.snapshot()

    assert live.trade_count == batch.trade_count and live.win_count == batch.win_count
    for name in ("realized", "unrealized", "equity", "max_drawdown", "peak_pnl", "win_rate", "sharpe"):
        assert getattr(live, name) == pytest.approx(getattr(batch, name), rel=1e-9, abs=1e-9), name
    assert batch.equity == pytest.approx(curve[-1])


def test_running_figures_restored_from_their_json_state_go_on_as_if_never_stopped():
    whole, first = RunningFigures(1000.0, ONE_MINUTE), RunningFigures(1000.0, ONE_MINUTE)
    for equity in CURVE[:3]:
        whole.on_bar(equity)
        first.on_bar(equity)
    first.on_trade(15.0)
    whole.on_trade(15.0)

    restored = RunningFigures.from_state(json.loads(json.dumps(first.state())))
    for equity in CURVE[3:]:
        whole.on_bar(equity)
        restored.on_bar(equity)

    assert restored.snapshot() == whole.snapshot()
    assert isinstance(restored.snapshot(), SessionFigures)
