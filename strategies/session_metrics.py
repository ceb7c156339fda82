"""A trading session's figures from its equity curve and closed trades, in one go or bar by bar. No Django here.

What each figure means (the README's "What a session's metrics mean" says it for people):

- ``realized``: the sum of the closed trades' PnL, net of fees; ``unrealized``: the open position
  marked at the last bar's close; ``equity``: starting equity + realized + unrealized.
- ``max_drawdown``: the largest fall, in money, from a running peak of the equity curve (the
  starting equity counts as the first peak). This is the largest fall in money, which is not
  always the fall that is largest as a fraction (``backtest.metrics.max_drawdown`` reports that
  one): a session's limits and its page speak in money.
- ``peak_pnl``: the highest PnL the curve reached (its highest equity - starting equity; 0 when it
  never rose above the start).
- ``trade_count``: closed trades; ``win_count``: those with a net PnL above 0; ``win_rate``:
  wins / trades (None without trades).
- ``sharpe``: mean / sample standard deviation of the per-bar simple returns of the curve
  (starting equity first), x sqrt(bars a year) (``backtest.metrics.bars_a_year``); None with fewer
  than two returns or no variation.

``figures`` computes them from the whole curve (backtests' functions); ``RunningFigures`` keeps
them bar by bar in O(1) (Welford's running mean and variance for the Sharpe ratio), for the runner,
and round-trips through JSON (``state`` / ``from_state``) so a restarted runner goes on where it was.
The two agree to floating-point rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from strategies.backtest import metrics


@dataclass(frozen=True)
class SessionFigures:
    """A session's figures after its last closed bar (money as floats; the service rounds them to cents' 1/100)."""

    realized: float
    unrealized: float
    equity: float
    max_drawdown: float
    peak_pnl: float
    trade_count: int
    win_count: int
    win_rate: float | None
    sharpe: float | None


def max_drawdown_amount(equity: Sequence[float]) -> float:
    """The largest fall, in money, from a running peak of ``equity`` (0 for an empty or rising curve)."""
    values = np.asarray(equity, dtype=float)
    if not len(values):
        return 0.0
    return float(np.max(np.maximum.accumulate(values) - values))


def figures(
    starting_equity: float,
    equity_curve: Sequence[float],
    trade_pnls: Sequence[float],
    open_pnl: float,
    resolution_seconds: int,
) -> SessionFigures:
    """Every figure of a session from its whole equity curve (one point a closed bar) and its closed trades."""
    curve = [float(starting_equity), *(float(e) for e in equity_curve)]
    realized = float(sum(trade_pnls))
    wins = sum(1 for pnl in trade_pnls if pnl > 0)
    return SessionFigures(
        realized=realized,
        unrealized=float(open_pnl),
        equity=float(starting_equity) + realized + float(open_pnl),
        max_drawdown=max_drawdown_amount(curve),
        peak_pnl=max(curve) - curve[0],
        trade_count=len(trade_pnls),
        win_count=wins,
        win_rate=wins / len(trade_pnls) if trade_pnls else None,
        sharpe=metrics.sharpe(metrics.returns(curve), metrics.bars_a_year(resolution_seconds)),
    )


class RunningFigures:
    """A session's figures kept bar by bar: ``on_trade`` for each closed trade, ``on_bar`` after each closed bar.

    Each call is O(1); ``snapshot()`` gives what ``figures`` would give for the same curve and trades.
    """

    def __init__(self, starting_equity: float, resolution_seconds: int) -> None:
        self.starting_equity = float(starting_equity)
        self.resolution_seconds = int(resolution_seconds)
        self.last_equity = self.starting_equity
        self.peak = self.starting_equity
        self.max_drawdown = 0.0
        self.realized = 0.0
        self.open_pnl = 0.0
        self.trade_count = 0
        self.win_count = 0
        # Welford's running count, mean and sum of squared deviations of the per-bar returns.
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0

    def on_trade(self, pnl: float) -> None:
        """Count one closed trade of net PnL ``pnl``."""
        self.realized += float(pnl)
        self.trade_count += 1
        self.win_count += int(pnl > 0)

    def on_bar(self, equity: float, open_pnl: float | None = None) -> None:
        """Take the equity after one closed bar (and the open position's PnL then, when it changed)."""
        equity = float(equity)
        if open_pnl is not None:
            self.open_pnl = float(open_pnl)
        # As backtest.metrics.returns: a bar after a zero equity has no return.
        if self.last_equity != 0:
            self._add_return(equity / self.last_equity - 1.0)
        self.last_equity = equity
        self.peak = max(self.peak, equity)
        self.max_drawdown = max(self.max_drawdown, self.peak - equity)

    def _add_return(self, value: float) -> None:
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)

    def sharpe(self) -> float | None:
        """The annualised Sharpe ratio of the returns so far (sample standard deviation), as ``metrics.sharpe``."""
        if self.count < 2 or self.m2 <= 0:
            return None
        std = math.sqrt(self.m2 / (self.count - 1))
        return self.mean / std * math.sqrt(metrics.bars_a_year(self.resolution_seconds)) if std > 0 else None

    def snapshot(self) -> SessionFigures:
        """The figures now."""
        return SessionFigures(
            realized=self.realized,
            unrealized=self.open_pnl,
            equity=self.starting_equity + self.realized + self.open_pnl,
            max_drawdown=self.max_drawdown,
            peak_pnl=self.peak - self.starting_equity,
            trade_count=self.trade_count,
            win_count=self.win_count,
            win_rate=self.win_count / self.trade_count if self.trade_count else None,
            sharpe=self.sharpe(),
        )

    _FIELDS = (
        "starting_equity", "resolution_seconds", "last_equity", "peak", "max_drawdown", "realized",
        "open_pnl", "trade_count", "win_count", "count", "mean", "m2",
    )  # fmt: skip

    def state(self) -> dict:
        """The running sums as JSON-ready values (for the session's ``state``)."""
        return {name: getattr(self, name) for name in self._FIELDS}

    @classmethod
    def from_state(cls, state: dict) -> RunningFigures:
        """The running figures ``state()`` returned.

        :raises KeyError: ``state`` lacks one of the sums.
        """
        running = cls(state["starting_equity"], state["resolution_seconds"])
        for name in cls._FIELDS:
            setattr(running, name, type(getattr(running, name))(state[name]))
        return running
