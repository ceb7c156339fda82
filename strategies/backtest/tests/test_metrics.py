"""Each metric on a tiny equity curve and trade list, computed by hand in the comments."""

from __future__ import annotations

import pytest

from strategies.backtest import metrics

DAILY = 86_400


def figures(**overrides):
    # Starting cash $100, then the equity after each of three daily bars: 110, 99, 121.
    options = {
        "starting_cash": 100.0,
        "equity": [110.0, 99.0, 121.0],
        "trade_pnls": [30.0, -10.0, -5.0, 15.0],
        "bars_in_position": 2,
        "resolution_seconds": DAILY,
        "fees": 4.0,
    }
    options.update(overrides)
    return metrics.compute(**options)


def test_total_return_and_pnl():
    # 121 / 100 - 1 = 0.21; 121 - 100 = $21.
    got = figures()
    assert got["total_return"] == pytest.approx(0.21)
    assert got["pnl"] == pytest.approx(21.0)
    assert got["final_equity"] == pytest.approx(121.0)


def test_max_drawdown_is_the_largest_fall_from_a_peak():
    # Peak 110, then 99: (110 - 99) / 110 = 0.10, $11. The later rise to 121 is no drawdown.
    got = figures()
    assert got["max_drawdown"] == pytest.approx(0.10)
    assert got["max_drawdown_amount"] == pytest.approx(11.0)


def test_a_curve_that_only_rises_has_no_drawdown():
    assert figures(equity=[101.0, 102.0, 103.0])["max_drawdown"] == 0.0


def test_win_rate_and_profit_factor():
    # Two of four trades won: 0.5. Wins 30 + 15 = 45, losses 10 + 5 = 15: 45 / 15 = 3.0.
    got = figures()
    assert got["win_rate"] == pytest.approx(0.5)
    assert got["profit_factor"] == pytest.approx(3.0)
    assert got["trade_count"] == 4


def test_profit_factor_without_a_loss_is_none_and_win_rate_without_trades_is_none():
    assert figures(trade_pnls=[5.0, 1.0])["profit_factor"] is None
    got = figures(trade_pnls=[])
    assert (got["win_rate"], got["profit_factor"], got["trade_count"]) == (None, None, 0)


def test_sharpe_is_annualised_for_daily_bars():
    # Returns: 110/100-1 = 1/10, 99/110-1 = -1/10, 121/99-1 = 2/9; mean = (2/9)/3 = 2/27 = 0.0740741.
    # Deviations from the mean: 7/270, -47/270, 40/270; sample variance = (49+2209+1600)/72900/2
    # = 0.0264609, std = 0.1626681. Per bar 0.0740741/0.1626681 = 0.455369; x sqrt(252) = 7.22877.
    assert figures()["sharpe"] == pytest.approx(7.22877, abs=1e-4)


def test_sortino_counts_only_the_falls():
    # Downside deviation over all three bars: sqrt((0 + 0.01 + 0) / 3) = 0.0577350;
    # 0.0740741 / 0.0577350 = 1.2830006; x sqrt(252) = 20.36700.
    assert figures()["sortino"] == pytest.approx(20.36700, abs=1e-4)


def test_sharpe_and_sortino_scale_with_the_bars_a_year():
    # One-minute bars: 252 x 390 = 98,280 a year; the per-bar ratio 0.455369 x sqrt(98,280) = 142.757.
    assert metrics.bars_a_year(60) == 98_280
    assert figures(resolution_seconds=60)["sharpe"] == pytest.approx(0.455369 * 98_280**0.5, rel=1e-5)
    # An hour: 390 / 60 = 6.5 -> 7 bars a session; 5 minutes: 78; a day: 1.
    assert (metrics.bars_a_year(3600), metrics.bars_a_year(300), metrics.bars_a_year(DAILY)) == (1764, 19_656, 252)


def test_sharpe_and_sortino_are_none_when_undefined():
    # A flat curve has no variation; no bar fell, so there is no downside.
    got = figures(equity=[100.0, 100.0, 100.0])
    assert (got["sharpe"], got["sortino"]) == (None, None)
    assert figures(equity=[101.0, 102.0, 104.0])["sortino"] is None


def test_exposure_is_the_share_of_bars_closed_in_a_position():
    # Two of three bars: 2/3.
    assert figures()["exposure"] == pytest.approx(2 / 3)
