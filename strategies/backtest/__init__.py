"""The backtester: the fill rule, IB's commissions, slippage and the metrics, over a compiled plan (no Django).

Usage::

    result = run_backtest(plan, {"SPY": bars}, starting_cash=100_000, fee_model="tiered",
                          slippage=SlippageModel("ticks", 1))
    result.trades, result.times, result.equity, result.metrics

``BacktestRun`` takes the bars chunk by chunk (the Celery task's way, with progress between chunks).
"""

from strategies.backtest.fees import BadFeeModel, FeeModel
from strategies.backtest.runner import BacktestResult, BacktestRun, run_backtest
from strategies.backtest.simulator import Simulator, Trade
from strategies.backtest.slippage import BadSlippageModel, SlippageModel

__all__ = [
    "BacktestResult",
    "BacktestRun",
    "BadFeeModel",
    "BadSlippageModel",
    "FeeModel",
    "Simulator",
    "SlippageModel",
    "Trade",
    "run_backtest",
]
