"""A backtest over stored bars: each symbol's evaluator and simulator fed in chunks, then trades, equity and metrics.

The starting cash is shared equally between the symbols; each symbol's share trades on its own
and the account's equity after a bar is the sum of every share's latest equity. No Django here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from marketdata import resolutions, sessions
from marketdata.bars import BarRecord
from strategies.backtest import metrics
from strategies.backtest.fees import FeeModel
from strategies.backtest.simulator import Simulator, Trade
from strategies.backtest.slippage import SlippageModel
from strategies.engine import Evaluator, Plan


@dataclass
class BacktestResult:
    """Closed trades (by entry time), positions still open at the end, the equity curve and the metrics."""

    trades: list[Trade]
    open_trades: list[Trade]
    times: list[int]
    equity: list[float]
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self, *, max_points: int | None = None) -> dict[str, Any]:
        """The result as JSON data; the equity curve thinned to about ``max_points`` points (first, last kept)."""
        times, equity = self.times, self.equity
        if max_points and len(times) > max_points:
            stride = -(-len(times) // max_points)
            keep = list(range(0, len(times), stride))
            if keep[-1] != len(times) - 1:
                keep.append(len(times) - 1)
            times, equity = [times[i] for i in keep], [equity[i] for i in keep]
        return {
            "trades": [t.as_dict() for t in self.trades],
            "open_trades": [t.as_dict() for t in self.open_trades],
            "equity_curve": {"time": times, "equity": [round(e, 4) for e in equity]},
            "metrics": self.metrics,
        }


class BacktestRun:
    """One backtest in progress: feed each symbol's closed bars in order, chunk by chunk, then ``result()``.

    :raises strategies.engine.BarRefused: (from ``feed``) a bar not closed, out of order, or another symbol's.
    """

    def __init__(
        self,
        plan: Plan,
        symbols: list[str],
        *,
        starting_cash: float,
        resolution: str,
        fee_model: str = "fixed",
        slippage: SlippageModel | None = None,
        calendar_code: str = sessions.DEFAULT_CALENDAR,
    ) -> None:
        if not symbols:
            raise ValueError("A backtest needs at least one symbol.")
        self.resolution = resolutions.parse(resolution)
        self.starting_cash = float(starting_cash)
        share = self.starting_cash / len(symbols)
        slippage = slippage or SlippageModel()
        self.evaluators = {s: Evaluator(plan, s, calendar_code=calendar_code) for s in symbols}
        # One fee model for the account: the tiered schedule counts the month's shares across symbols.
        fees = FeeModel(fee_model)
        self.simulators = {s: Simulator(s, share, fees, slippage) for s in symbols}

    def feed(self, symbol: str, bars: list[BarRecord]) -> int:
        """Decide and simulate ``bars``, the next closed bars of ``symbol``; return how many decisions they made."""
        if not bars:
            return 0
        evaluator = self.evaluators[symbol]
        start = len(evaluator.history)
        decisions = evaluator.catch_up(bars)
        history = evaluator.history
        columns = [history.column(name)[start:].tolist() for name in ("open", "high", "low", "close")]
        times = [bar.time for bar in bars]
        self.simulators[symbol].run(times, *columns, {d.bar_time: d for d in decisions})
        return len(decisions)

    def result(self) -> BacktestResult:
        """Trades, equity curve and metrics of the bars fed so far."""
        sims = list(self.simulators.values())
        times, equity = _combined(sims, self.starting_cash / len(sims))
        trades = sorted((t for s in sims for t in s.trades), key=lambda t: (t.entry_time, t.symbol))
        figures = metrics.compute(
            starting_cash=self.starting_cash,
            equity=equity,
            trade_pnls=[t.pnl for t in trades],
            bars_in_position=sum(s.bars_in_position for s in sims),
            resolution_seconds=self.resolution.seconds,
            fees=sum(s.fees_paid for s in sims),
        )
        # Over several symbols the exposure counts symbol-bars: bars closed in a position / bars fed.
        symbol_bars = sum(len(s.times) for s in sims)
        figures["exposure"] = sum(s.bars_in_position for s in sims) / symbol_bars if symbol_bars else 0.0
        open_trades = [s.open_trade for s in sims if s.open_trade is not None]
        return BacktestResult(trades, open_trades, times, equity, figures)


def _combined(sims: list[Simulator], share: float) -> tuple[list[int], list[float]]:
    if len(sims) == 1:
        return list(sims[0].times), list(sims[0].equity)
    # Before a symbol's first bar its share is still the cash it started with.
    latest = [share] * len(sims)
    events = sorted((t, k, e) for k, s in enumerate(sims) for t, e in zip(s.times, s.equity, strict=True))
    times: list[int] = []
    equity: list[float] = []
    for t, k, e in events:
        latest[k] = e
        if times and times[-1] == t:
            equity[-1] = sum(latest)
        else:
            times.append(t)
            equity.append(sum(latest))
    return times, equity


def run_backtest(plan: Plan, bars_by_symbol: dict[str, Iterable[BarRecord]], **options: Any) -> BacktestResult:
    """Backtest ``plan`` over every symbol's closed bars at once (options as ``BacktestRun``)."""
    bars_by_symbol = {s: list(b) for s, b in bars_by_symbol.items()}
    resolution = options.pop("resolution", None) or next((b[0].resolution for b in bars_by_symbol.values() if b), "1")
    run = BacktestRun(plan, list(bars_by_symbol), resolution=resolution, **options)
    for symbol, bars in bars_by_symbol.items():
        run.feed(symbol, bars)
    return run.result()
