"""The EMA-crossover backtest in backtrader and backtesting.py, run by bench_backtest in .venv-bench.

Usage: .venv-bench/bin/python bench/backtest_others.py BARS.csv RUNS > result.json

The rules are the desk's bench graph's: EMA(12) and EMA(26) of the close (seeded with the simple
average of the first ``period`` closes, as TA-Lib, backtrader and this module's ``ema`` do); buy
100 shares when the fast EMA crosses above the slow one while flat, close when it crosses under
while long; market orders fill at the next bar's open (both libraries' default), no fees, cash
large enough for any entry. Prints, per library, the median run time, the bars and each trade's
entry and exit time (epoch seconds) as JSON. Imports nothing of the desk.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings

import numpy as np
import pandas as pd

FAST, SLOW, SHARES, CASH = 12, 26, 100, 10_000_000


def ema(values, period: int) -> np.ndarray:
    """The exponential average of ``values``, NaN until ``period`` values, seeded with their simple average."""
    values = np.asarray(values, dtype=float)
    out = np.full(len(values), np.nan)
    if len(values) < period:
        return out
    alpha = 2.0 / (period + 1)
    out[period - 1] = values[:period].mean()
    for i in range(period, len(values)):
        out[i] = out[i - 1] + alpha * (values[i] - out[i - 1])
    return out


def _epoch(moment) -> int:
    """Epoch seconds of a naive UTC datetime (or an aware one)."""
    stamp = pd.Timestamp(moment)
    return int((stamp if stamp.tzinfo else stamp.tz_localize("UTC")).timestamp())


def run_backtrader(frame: pd.DataFrame) -> list[tuple[int, int | None]]:
    import backtrader as bt

    fills: list[tuple[int, bool]] = []

    class EmaCross(bt.Strategy):
        def __init__(self):
            fast, slow = bt.ind.EMA(self.data.close, period=FAST), bt.ind.EMA(self.data.close, period=SLOW)
            self.cross = bt.ind.CrossOver(fast, slow)

        def next(self):
            if self.cross[0] > 0 and not self.position:
                self.buy(size=SHARES)
            elif self.cross[0] < 0 and self.position:
                self.close()

        def notify_order(self, order):
            if order.status == order.Completed:
                fills.append((_epoch(bt.num2date(order.executed.dt)), order.isbuy()))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(EmaCross)
    cerebro.broker.setcash(CASH)
    cerebro.run()
    trades, entry = [], None
    for t, is_buy in fills:
        if is_buy:
            entry = t
        else:
            trades.append((entry, t))
            entry = None
    if entry is not None:
        trades.append((entry, None))
    return trades


def run_backtesting(frame: pd.DataFrame) -> list[tuple[int, int | None]]:
    from backtesting import Backtest, Strategy
    from backtesting.lib import crossover

    class EmaCross(Strategy):
        def init(self):
            self.fast = self.I(ema, self.data.Close, FAST)
            self.slow = self.I(ema, self.data.Close, SLOW)

        def next(self):
            if crossover(self.fast, self.slow) and not self.position:
                self.buy(size=SHARES)
            elif crossover(self.slow, self.fast) and self.position:
                self.position.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = Backtest(frame, EmaCross, cash=CASH, commission=0, trade_on_close=False).run()
    trades = [(_epoch(row.EntryTime), _epoch(row.ExitTime)) for row in stats._trades.itertuples()]
    return trades


def main(path: str, runs: int) -> dict:
    raw = pd.read_csv(path)
    frame = pd.DataFrame(
        {
            "Open": raw["open"].to_numpy(float),
            "High": raw["high"].to_numpy(float),
            "Low": raw["low"].to_numpy(float),
            "Close": raw["close"].to_numpy(float),
            "Volume": raw["volume"].to_numpy(float),
        },
        index=pd.to_datetime(raw["time"], unit="s"),
    )
    bt_frame = frame.rename(columns=str.lower)
    out = {}
    for name, runner, data in (("backtrader", run_backtrader, bt_frame), ("backtesting.py", run_backtesting, frame)):
        timings, trades = [], []
        for _ in range(runs):
            started = time.perf_counter()
            trades = runner(data)
            timings.append(time.perf_counter() - started)
        out[name] = {"seconds": statistics.median(timings), "bars": len(frame), "trades": trades}
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
