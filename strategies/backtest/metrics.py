"""A backtest's figures from its equity curve and its closed trades. No Django here.

- ``total_return``: final equity / starting cash - 1. ``pnl``: final equity - starting cash.
- ``max_drawdown``: the largest fall from a running peak of the equity, as a fraction of that
  peak (0.25 = 25 %); ``max_drawdown_amount`` the same fall in dollars.
- ``win_rate``: closed trades with a net PnL above 0 / closed trades (None without trades).
- ``profit_factor``: the sum of winning trades' net PnL / the sum of losing trades' net losses
  (None when no trade lost: the ratio has no finite value).
- ``sharpe``: mean / sample standard deviation of the per-bar simple returns of the equity
  curve, x sqrt(bars a year); the risk-free rate is taken as 0. ``sortino``: mean / downside
  deviation (the root mean square of the returns below 0, over all bars) x sqrt(bars a year).
  Bars a year: 252 sessions x the bars of a 6.5-hour regular session (390 one-minute bars,
  78 five-minute, 26 fifteen-minute, 7 hourly, 1 daily). None when undefined (fewer than two
  returns, or no variation).
- ``exposure``: the fraction of bars that closed with a position open.
- ``trade_count``: closed round trips.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SESSIONS_A_YEAR = 252
SESSION_MINUTES = 390


def bars_a_year(resolution_seconds: int) -> int:
    """How many bars of this length a year of regular sessions holds (a daily bar is one a session)."""
    if resolution_seconds >= 86_400:
        return SESSIONS_A_YEAR
    return SESSIONS_A_YEAR * math.ceil(SESSION_MINUTES * 60 / resolution_seconds)


def returns(equity: Sequence[float]) -> np.ndarray:
    """The simple return of each bar after the first: e[i] / e[i-1] - 1 (bars after a zero equity left out)."""
    values = np.asarray(equity, dtype=float)
    before, after = values[:-1], values[1:]
    nonzero = before != 0
    return after[nonzero] / before[nonzero] - 1.0


def max_drawdown(equity: Sequence[float]) -> tuple[float, float]:
    """The largest fall from a running peak: (fraction of the peak, dollars at that point)."""
    values = np.asarray(equity, dtype=float)
    if not len(values):
        return 0.0, 0.0
    peaks = np.maximum.accumulate(values)
    falls = peaks - values
    with np.errstate(divide="ignore", invalid="ignore"):
        fractions = np.where(peaks > 0, falls / peaks, 0.0)
    worst = int(np.argmax(fractions))
    return float(fractions[worst]), float(falls[worst])


def sharpe(rets: Sequence[float], periods: int) -> float | None:
    """Annualised Sharpe ratio of ``rets`` (risk-free 0, sample standard deviation)."""
    rets = np.asarray(rets, dtype=float)
    if len(rets) < 2:
        return None
    std = float(rets.std(ddof=1))
    return float(rets.mean()) / std * math.sqrt(periods) if std > 0 else None


def sortino(rets: Sequence[float], periods: int) -> float | None:
    """Annualised Sortino ratio of ``rets`` (target 0; downside deviation over all bars)."""
    rets = np.asarray(rets, dtype=float)
    if len(rets) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(rets, 0.0) ** 2)))
    return float(rets.mean()) / downside * math.sqrt(periods) if downside > 0 else None


def compute(
    *,
    starting_cash: float,
    equity: Sequence[float],
    trade_pnls: Sequence[float],
    bars_in_position: int,
    resolution_seconds: int,
    fees: float = 0.0,
) -> dict[str, float | int | None]:
    """Every figure of a backtest, as the module docstring defines them."""
    final = equity[-1] if equity else starting_cash
    wins = [p for p in trade_pnls if p > 0]
    losses = [-p for p in trade_pnls if p < 0]
    drawdown, drawdown_amount = max_drawdown([starting_cash, *equity])
    rets = returns([starting_cash, *equity])
    periods = bars_a_year(resolution_seconds)
    return {
        "starting_cash": starting_cash,
        "final_equity": float(final),
        "pnl": float(final - starting_cash),
        "total_return": final / starting_cash - 1.0 if starting_cash else None,
        "max_drawdown": drawdown,
        "max_drawdown_amount": drawdown_amount,
        "win_rate": len(wins) / len(trade_pnls) if trade_pnls else None,
        "profit_factor": sum(wins) / sum(losses) if losses else None,
        "sharpe": sharpe(rets, periods),
        "sortino": sortino(rets, periods),
        "exposure": bars_in_position / len(equity) if equity else 0.0,
        "trade_count": len(trade_pnls),
        "fees": fees,
        "bars": len(equity),
    }
