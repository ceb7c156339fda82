"""One running session in the runner's memory: its evaluator, its forward-test account and its figures.

The same evaluator as the backtester decides on each closed bar. A forward test fills a decision
at once at the live quote (the ask to buy, the bid to sell) when the runner has a fresh one, else
at the next bar's open, as the backtester does; either way with the session's slippage and fee
model, through the backtester's own ``Simulator``. A broker session only decides: the runner
hands its decisions to the desk's order path. No Django here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marketdata import resolutions, sessions
from marketdata.bars import BarRecord
from strategies.backtest.fees import FeeModel
from strategies.backtest.simulator import Simulator, Trade
from strategies.backtest.slippage import SlippageModel
from strategies.engine import Evaluator, Plan
from strategies.engine.decisions import TARGET, Book, Decision, order_quantity
from strategies.runtime import state as saved
from strategies.session_metrics import RunningFigures, SessionFigures

FORWARD, BROKER = "forward", "broker"
# Bars kept per session: the window each closed bar's indicators are recomputed over (see
# BarHistory.drop_oldest); at least this many, and never fewer than four warm-ups.
WINDOW_BARS = 500


@dataclass(frozen=True)
class SimulatedFill:
    """A forward test's fill: when (epoch s), which side, how many, at what price and fee, and why."""

    time: int
    side: str
    quantity: int
    price: float
    fee: float
    reason: str


@dataclass
class BarResult:
    """What one closed bar did to a session: the decision (if any), how it went, fills, equity and figures."""

    bar_time: int
    decision: Decision | None = None
    outcome: str | None = None
    fills: list[SimulatedFill] = field(default_factory=list)
    equity: float | None = None
    figures: SessionFigures | None = None


class LiveSession:
    """A session between bars; ``on_bar`` for each closed bar in order, ``state()`` to keep it."""

    def __init__(
        self,
        *,
        session_id: int,
        mode: str,
        plan: Plan,
        symbol: str,
        resolution: str,
        starting_equity: float,
        fee_model: str = "fixed",
        slippage: SlippageModel | None = None,
        calendar_code: str = sessions.DEFAULT_CALENDAR,
        max_position: int | None = None,
        max_daily_loss: float | None = None,
    ) -> None:
        self.session_id = session_id
        self.max_position, self.max_daily_loss = max_position, max_daily_loss
        self.tz = sessions.calendar(calendar_code).tz
        # The exchange's trading day of the last bar and the equity it started with (the daily loss limit).
        self.day: str | None = None
        self.day_start_equity = float(starting_equity)
        self.mode = mode
        self.symbol = symbol
        self.resolution = resolutions.parse(resolution)
        self.evaluator = Evaluator(plan, symbol, calendar_code=calendar_code)
        self.window = max(WINDOW_BARS, 4 * plan.warmup)
        self.simulator = (
            Simulator(symbol, cash=starting_equity, fees=FeeModel(fee_model), slippage=slippage or SlippageModel())
            if mode == FORWARD
            else None
        )
        self.figures = RunningFigures(starting_equity, self.resolution.seconds)
        self.last_bar_time: int | None = None

    # -- starting -----------------------------------------------------------------------------

    def warm_up(self, bars: list[BarRecord], state: dict[str, Any] | None) -> None:
        """Read ``bars`` (stored, closed, in order, up to the last bar decided) without acting, then
        take the session's kept ``state`` (none for a new session: flat, with its starting equity).

        :raises strategies.engine.BarRefused: a bar out of order or not closed.
        """
        self.evaluator.catch_up(bars[-self.window :])
        # The warm-up's own decisions were not the session's: its position is what was kept.
        self.evaluator.book = Book()
        if bars:
            self.last_bar_time = bars[-1].time
        if not state:
            return
        seen = len(self.evaluator.history)
        saved.restore_book(self.evaluator.book, state.get("book") or {}, seen)
        if self.simulator is not None and state.get("sim"):
            saved.restore_simulator(self.simulator, state["sim"])
        if state.get("figures"):
            self.figures = RunningFigures.from_state(state["figures"])
        self.day = state.get("day")
        self.day_start_equity = float(state.get("day_start_equity") or self.figures.last_equity)

    def state(self) -> dict[str, Any]:
        """What ``warm_up`` needs to resume this session in another runner."""
        kept = {
            "book": saved.book_state(self.evaluator.book, len(self.evaluator.history)),
            "figures": self.figures.state(),
            "day": self.day,
            "day_start_equity": self.day_start_equity,
        }
        if self.simulator is not None:
            kept["sim"] = saved.simulator_state(self.simulator)
        return kept

    # -- each bar -----------------------------------------------------------------------------

    def on_bar(
        self,
        bar: BarRecord,
        *,
        quote: tuple[float, float] | None = None,
        stale: bool = False,
        series: dict | None = None,
    ) -> BarResult:
        """Decide on the closed ``bar`` (the next one after the last): fills, the decision and figures.

        ``quote`` is the live (bid, ask) a forward test fills a decision at; without one the
        decision fills at the next bar's open. A ``stale`` bar (older than the runner may act on)
        is read but its decision is not acted on: outcome "stale", and the position stays.
        ``series``: the values another session computed over the very same bars (see
        ``Evaluator.on_bar``); the ones used are ``evaluator.last_series`` afterwards.

        :raises strategies.engine.BarRefused: the bar is not the next closed bar of this symbol.
        :raises Exception: whatever the strategy's nodes raise (the runner stops the session).
        """
        result = BarResult(bar.time)
        sim = self.simulator
        day = datetime.fromtimestamp(bar.time, tz=self.tz).date().isoformat()
        if day != self.day:
            self.day, self.day_start_equity = day, self.figures.last_equity
        if sim is not None:
            trades, opened = len(sim.trades), sim.open_trade
            sim.run([bar.time], [float(bar.open)], [float(bar.high)], [float(bar.low)], [float(bar.close)], {})
        decisions = self.evaluator.on_bar(bar, series)
        self.last_bar_time = bar.time
        if decisions:
            result.decision = decisions[0]
            if stale:
                # Not acted on, so the strategy's own book must not believe it will fill.
                self.evaluator.book.pending = None
                result.outcome = "stale"
            elif sim is not None:
                result.outcome = self._fill(result.decision, bar, quote)
        if sim is not None:
            result.fills = self._fills_since(trades, opened)
            sim.trades.clear()
            sim.equity.clear()
            sim.times.clear()
            close = float(bar.close)
            result.equity = sim.cash + sim.side * sim.quantity * close
            open_pnl = self._open_pnl(close)
            self.figures.on_bar(result.equity, open_pnl)
            result.figures = self.figures.snapshot()
        self._bound_history()
        return result

    def mark_broker(self, result: BarResult, close: float, fills: list[tuple[str, float, float, float]]) -> None:
        """A broker session's equity and figures after ``result``'s bar, from its fills at the broker so far."""
        trips, position, average = broker_round_trips(fills)
        figures = self.figures
        figures.realized, figures.trade_count = sum(trips), len(trips)
        figures.win_count = sum(1 for pnl in trips if pnl > 0)
        unrealized = position * (close - average) if position else 0.0
        result.equity = figures.starting_equity + figures.realized + unrealized
        figures.on_bar(result.equity, unrealized)
        result.figures = figures.snapshot()

    def quiet(self, now: float, *, since: float, bars: int) -> str | None:
        """Why the session's market data looks stopped at ``now`` (no closed bar for ``bars`` bars, counted
        from its last bar or from ``since``, while its exchange is open), or None. Daily bars are never quiet.
        """
        if self.resolution.daily:
            return None
        bound = bars * self.resolution.seconds
        last_end = (self.last_bar_time or 0) + self.resolution.seconds
        if now - max(last_end, since) <= bound:
            return None
        calendar = sessions.calendar(self.evaluator.history.calendar_code)
        if calendar.at(now) is None or calendar.at(now - bound) is None:
            return None  # the market is closed (or just opened): no bar is due
        return f"No closed {self.symbol} bar for {int(now - last_end)} s while the market is open."

    def day_pnl(self) -> float:
        """The equity's change since the first bar of the exchange's trading day (forward tests)."""
        return self.figures.last_equity - self.day_start_equity

    def over_max_position(self, decision: Decision, price: float, equity: float) -> bool:
        """Whether ``decision`` would hold more shares than the session's maximum position."""
        if self.max_position is None or decision.action == "close":
            return False
        shares = order_quantity(decision.sizing, decision.stop_loss, equity=equity, price=price)
        return shares > self.max_position

    def _fill(self, decision: Decision, bar: BarRecord, quote: tuple[float, float] | None) -> str:
        sim = self.simulator
        close = float(bar.close)
        if self.over_max_position(decision, close, sim.cash + sim.side * sim.quantity * close):
            self.evaluator.book.pending = None  # refused: the strategy's book stays as the account is
            return "limit"
        if quote is None:
            sim.pending = decision
            return "pending"
        buying = TARGET[decision.action] > sim.side
        bid, ask = quote
        sim.fill_now(decision, bar.time + self.resolution.seconds, ask if buying else bid)
        return "filled"

    def _open_pnl(self, close: float) -> float:
        sim, trade = self.simulator, self.simulator.open_trade
        if trade is None or not sim.quantity:
            return 0.0
        return sim.side * sim.quantity * (close - trade.entry_price) - trade.entry_fee

    def _fills_since(self, trades: int, opened: Trade | None) -> list[SimulatedFill]:
        """The fills the simulator made since it held ``trades`` closed trades and ``opened`` open."""
        sim, fills = self.simulator, []
        for trade in sim.trades[trades:]:
            if trade is not opened:
                fills.append(_entry(trade))
            fills.append(exit_fill(trade))
            self.figures.on_trade(trade.pnl)
        if sim.open_trade is not None and sim.open_trade is not opened:
            fills.append(_entry(sim.open_trade))
        return fills

    def _bound_history(self) -> None:
        history = self.evaluator.history
        if len(history) >= 2 * self.window:
            dropped = history.drop_oldest(self.window)
            if self.evaluator.book.side:
                self.evaluator.book.fill_index -= dropped


def _entry(trade: Trade) -> SimulatedFill:
    side = "BUY" if trade.side == "long" else "SELL"
    return SimulatedFill(trade.entry_time, side, trade.quantity, trade.entry_price, trade.entry_fee, "entry")


def exit_fill(trade: Trade) -> SimulatedFill:
    side = "SELL" if trade.side == "long" else "BUY"
    return SimulatedFill(
        trade.exit_time, side, trade.quantity, trade.exit_price, trade.exit_fee, trade.exit_reason or "exit"
    )


def broker_round_trips(fills: list[tuple[str, float, float, float]]) -> tuple[list[float], float, float]:
    """A broker session's closed round trips from its fills ``(side, quantity, price, fee)`` in order.

    Average cost: a fill that reduces the position realizes against the average entry price; a
    round trip closes when the position returns to (or crosses) zero, its PnL net of every fee
    paid in it. Returns (the round trips' PnL, the open position's signed shares, its average price).
    """
    trips: list[float] = []
    position, average, running = 0.0, 0.0, 0.0
    for side, quantity, price, fee in fills:
        signed = quantity if side == "BUY" else -quantity
        running -= fee
        if position and (position > 0) != (signed > 0):
            closing = min(abs(signed), abs(position))
            running += closing * (price - average) * (1 if position > 0 else -1)
            position += closing if position < 0 else -closing
            signed += closing if signed < 0 else -closing
            if not position:
                trips.append(running)
                running, average = 0.0, 0.0
        if signed:
            average = (average * abs(position) + price * abs(signed)) / (abs(position) + abs(signed))
            position += signed
    return trips, position, average
