"""The fill rule: a strategy's decisions become fills, trades and an equity curve, one symbol's bars at a time.

The rule, the evaluator's own (``strategies.engine.decisions.Book``) so the position the strategy
reads is the position simulated:

- A decision of bar t fills as a market order at bar t+1's open, slipped against the trader
  (never at bar t's close: that price was only known once t had closed).
- Exits rest from the fill: their levels are set from bar t+1's open (the price the evaluator
  knows), and are checked against each bar's high and low from the fill bar on.
- A bar's path between its high and low is unknown, so when one bar reaches both a stop (or the
  trailing stop) and the take-profit, the stop is taken: the worse outcome first.
- A stop that is reached fills as a market order at the stop, or at the bar's open when the bar
  opened beyond it (a gap), slipped; a take-profit is a limit: at its price, or at a better open,
  not slipped. A trailing stop trails the best high (low, short) of the bars before this one.
- An entry sized to no shares (too little equity) is kept as a zero-share position so the
  simulator stays in step with the strategy's position; it makes no trade.

No Django here.
"""

from __future__ import annotations

import math
import time as _time
from dataclasses import dataclass, field
from typing import Any

from strategies.backtest.fees import FeeModel
from strategies.backtest.slippage import SlippageModel
from strategies.engine.decisions import TARGET, Decision, exit_distance, order_quantity


@dataclass
class Trade:
    """One round trip: opened by a fill, closed by a signal, a reversal, an exit, or still open."""

    symbol: str
    side: str
    quantity: int
    decided_at: int
    entry_time: int
    entry_price: float
    entry_fee: float
    exit_time: int | None = None
    exit_price: float | None = None
    exit_fee: float = 0.0
    exit_reason: str | None = None
    pnl: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _month(t: int) -> tuple[int, int]:
    moment = _time.gmtime(t)
    return moment.tm_year, moment.tm_mon


@dataclass
class Simulator:
    """One symbol's account share: cash, the position, its resting exits, trades and the equity after each bar."""

    symbol: str
    cash: float
    fees: FeeModel = field(default_factory=FeeModel)
    slippage: SlippageModel = field(default_factory=SlippageModel)
    side: int = 0
    quantity: int = 0
    pending: Decision | None = None
    trades: list[Trade] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    open_trade: Trade | None = None
    stop: float = math.nan
    target: float = math.nan
    trail_distance: float = math.nan
    best: float = math.nan
    fees_paid: float = 0.0
    bars_in_position: int = 0
    has_exits: bool = False

    def run(self, times, opens, highs, lows, closes, decisions: dict[int, Decision]) -> None:
        """Walk bars given as columns (floats, in order) with the decisions by their bar's time."""
        get = decisions.get
        equity = self.equity.append
        held = 0
        # The hot loop of a backtest: attributes read once a bar, flat bars cost one dict lookup.
        for i, t in enumerate(times):
            if self.pending is not None:
                self._fill(t, opens[i])
            if self.has_exits:
                self._exits(t, opens[i], highs[i], lows[i])
            decision = get(t)
            if decision is not None:
                self.pending = decision
            quantity = self.quantity
            if quantity:
                equity(self.cash + self.side * quantity * closes[i])
                held += 1
            else:
                equity(self.cash)
        self.times.extend(times)
        self.bars_in_position += held

    def fill_now(self, decision: Decision, t: int, price: float) -> None:
        """Fill ``decision`` at once at ``price`` (the live quote a forward test reads), slipped as any fill."""
        self.pending = decision
        self._fill(t, price)

    def close_now(self, t: int, price: float, reason: str) -> None:
        """Close the position at once at ``price`` (a session stopped with a flatten), slipped."""
        self.pending = None
        if self.side:
            self._close(t, price, reason)

    def _trade(self, t: int, price: float, shares: int, *, buying: bool) -> tuple[float, float]:
        """Pay for ``shares`` at ``price`` (already slipped); return the price and the fees."""
        fee = self.fees.charge(shares, price, selling=not buying, month=_month(t))
        self.cash += (-shares if buying else shares) * price - fee
        self.fees_paid += fee
        return price, fee

    def _close(self, t: int, price: float, reason: str, *, slipped: bool = True) -> None:
        buying = self.side < 0
        if slipped:
            price = self.slippage.price(price, buying=buying)
        trade = self.open_trade
        if trade is not None and self.quantity:
            price, fee = self._trade(t, price, self.quantity, buying=buying)
            trade.exit_time, trade.exit_price, trade.exit_fee, trade.exit_reason = t, price, fee, reason
            trade.pnl = self.side * self.quantity * (price - trade.entry_price) - trade.entry_fee - fee
            self.trades.append(trade)
        self.side, self.quantity, self.open_trade, self.has_exits = 0, 0, None, False
        self.stop = self.target = self.trail_distance = self.best = math.nan

    def _fill(self, t: int, open_price: float) -> None:
        decision, self.pending = self.pending, None
        side = TARGET[decision.action]
        if self.side:
            self._close(t, open_price, "reverse" if side else "signal")
        if not side:
            return
        quantity = self._size(decision, open_price)
        self.side, self.quantity, self.best = side, quantity, open_price
        if decision.stop_loss:
            self.stop = open_price - side * exit_distance(decision.stop_loss, open_price)
        if decision.take_profit:
            self.target = open_price + side * exit_distance(decision.take_profit, open_price)
        if decision.trailing_stop:
            self.trail_distance = exit_distance(decision.trailing_stop, open_price)
        # A position without a resting exit skips the per-bar exit check (NaN levels never trigger).
        self.has_exits = bool(decision.stop_loss or decision.take_profit or decision.trailing_stop)
        if quantity:
            price, fee = self._trade(t, self.slippage.price(open_price, buying=side > 0), quantity, buying=side > 0)
            self.open_trade = Trade(
                self.symbol, "long" if side > 0 else "short", quantity, decision.bar_time, t, price, fee
            )

    def _size(self, decision: Decision, price: float) -> int:
        # Flat at an entry (a reversal has just closed), so cash is the equity.
        return order_quantity(decision.sizing, decision.stop_loss, equity=self.cash, price=price)

    def _exits(self, t: int, open_price: float, high: float, low: float) -> None:
        side = self.side
        # The tighter of the stop and the trailing stop; an exit not set is NaN, which no price reaches.
        stop, trail, reason = self.stop, self.best - side * self.trail_distance, "stop_loss"
        if math.isnan(stop) or (not math.isnan(trail) and side * (trail - stop) > 0):
            stop, reason = trail, "trailing_stop"
        if side > 0:
            if low <= stop:
                self._close(t, min(open_price, stop), reason)
            elif high >= self.target:
                self._close(t, max(open_price, self.target), "take_profit", slipped=False)
            else:
                self.best = max(self.best, high)
        else:
            if high >= stop:
                self._close(t, max(open_price, stop), reason)
            elif low <= self.target:
                self._close(t, min(open_price, self.target), "take_profit", slipped=False)
            else:
                self.best = min(self.best, low)
