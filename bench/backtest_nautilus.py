"""The EMA-crossover backtest in NautilusTrader, run by bench_backtest in .venv-nautilus when it is there.

Usage: .venv-nautilus/bin/python bench/backtest_nautilus.py BARS.csv > result.json

The rules of ``backtest_others.py`` (EMA 12/26 of the close seeded with their simple average,
computed here as TA-Lib does, since Nautilus's own EMA seeds with the first close; buy 100 while
flat on the cross above, close on the cross under). Nautilus fills a market order at once, at the
price its matching engine last saw: the close of the bar that decided, not the next bar's open.
So the bars are stamped with their close time (Nautilus's convention), which inside a session is
the next bar's open time; only a decision on a session's last bar fills at a different time
than ours. Prints the run's seconds, the bars and each trade's entry and exit time as JSON.
"""

from __future__ import annotations

import json
import math
import sys
import time

import pandas as pd
from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USD
from nautilus_trader.model.data import BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide
from nautilus_trader.model.identifiers import TraderId, Venue
from nautilus_trader.model.objects import Money, Quantity
from nautilus_trader.persistence.wranglers import BarDataWrangler
from nautilus_trader.test_kit.providers import TestInstrumentProvider
from nautilus_trader.trading.strategy import Strategy

FAST, SLOW, SHARES = 12, 26, 100


class Ema:
    """An EMA seeded with the simple average of its first ``period`` values (TA-Lib's)."""

    def __init__(self, period: int) -> None:
        self.period, self.alpha, self.seen, self.value = period, 2.0 / (period + 1), [], math.nan

    def update(self, x: float) -> float:
        if len(self.seen) < self.period:
            self.seen.append(x)
            if len(self.seen) == self.period:
                self.value = sum(self.seen) / self.period
        else:
            self.value += self.alpha * (x - self.value)
        return self.value


class EmaCrossConfig(StrategyConfig, frozen=True):
    instrument_id: str
    bar_type: str


class EmaCross(Strategy):
    def __init__(self, config: EmaCrossConfig) -> None:
        super().__init__(config)
        self.fast, self.slow, self.previous = Ema(FAST), Ema(SLOW), math.nan
        self.fills: list[tuple[int, bool]] = []

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.instrument_id_)
        self.subscribe_bars(BarType.from_str(self.config.bar_type))

    @property
    def instrument_id_(self):
        from nautilus_trader.model.identifiers import InstrumentId

        return InstrumentId.from_str(self.config.instrument_id)

    def on_bar(self, bar) -> None:
        close = float(bar.close)
        diff = self.fast.update(close) - self.slow.update(close)
        previous, self.previous = self.previous, diff
        if math.isnan(diff) or math.isnan(previous):
            return
        iid = self.instrument.id
        if diff > 0 >= previous and self.portfolio.is_flat(iid):
            self.submit_order(self.order_factory.market(iid, OrderSide.BUY, Quantity.from_int(SHARES)))
        elif diff < 0 <= previous and self.portfolio.is_net_long(iid):
            self.submit_order(self.order_factory.market(iid, OrderSide.SELL, Quantity.from_int(SHARES)))

    def on_order_filled(self, event) -> None:
        self.fills.append((event.ts_event // 1_000_000_000, event.order_side == OrderSide.BUY))


def main(path: str) -> dict:
    raw = pd.read_csv(path)
    engine = BacktestEngine(
        config=BacktestEngineConfig(trader_id=TraderId("BENCH-001"), logging=LoggingConfig(log_level="ERROR"))
    )
    venue = Venue("XNAS")
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=USD,
        starting_balances=[Money(10_000_000, USD)],
    )
    instrument = TestInstrumentProvider.equity(symbol="SPY", venue="XNAS")
    engine.add_instrument(instrument)
    bar_type = BarType.from_str(f"{instrument.id}-1-MINUTE-LAST-EXTERNAL")
    frame = pd.DataFrame(
        {name: raw[name].to_numpy(float) for name in ("open", "high", "low", "close")}
        # Volume plays no part in the rules; Nautilus lets a bar's volume cap a fill, so it is made ample.
        | {"volume": [1_000_000_000.0] * len(raw)},
        # Stamped with the bar's close, as Nautilus stamps bars.
        index=pd.to_datetime(raw["time"] + 60, unit="s", utc=True),
    )
    engine.add_data(BarDataWrangler(bar_type, instrument).process(frame))
    strategy = EmaCross(EmaCrossConfig(instrument_id=str(instrument.id), bar_type=str(bar_type)))
    engine.add_strategy(strategy)
    started = time.perf_counter()
    engine.run()
    seconds = time.perf_counter() - started
    trades, entry = [], None
    for t, is_buy in strategy.fills:
        if is_buy:
            entry = t
        else:
            trades.append((entry, t))
            entry = None
    if entry is not None:
        trades.append((entry, None))
    engine.dispose()
    return {"seconds": seconds, "bars": len(frame), "trades": trades}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
