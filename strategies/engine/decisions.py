"""What a strategy decides on a bar, and the evaluator's own book of the position those decisions make."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Decision:
    """An order the strategy decided on the closed bar starting at ``bar_time`` (epoch seconds, UTC).

    The fill rule, applied by the backtester and the live runner alike: a decision of bar t fills
    no earlier than the open of bar t+1 (never at bar t's close, which was only known once t closed).
    ``action`` is a target: "buy" goes long (reversing a short), "sell" goes short (reversing a
    long), "close" goes flat. ``sizing`` says how to size a buy or a sell ({"kind":
    "fixed_quantity", "quantity": 100}, {"kind": "percent_of_equity", "percent": 10.0}, {"kind":
    "risk_per_trade", "percent": 1.0}; one share when the action has no sizing node; None on a
    close), and ``quantity`` repeats a fixed quantity. Exits are distances from the fill price:
    {"mode": "percent", "percent": 2.0} or {"mode": "atr", "atr_multiple": 2.0, "atr": 1.3,
    "distance": 2.6} (ATR as of bar t); they rest at the broker after the fill, so their exits
    are not decisions. ``close_price`` is bar t's close, for reference only.

    ``why`` keeps the node values that decided it, JSON-ready (``strategies.engine.why``): not
    compared, so a decision equals the same decision made without them.
    """

    action: str
    symbol: str
    bar_time: int
    node: str
    sizing: dict[str, Any] | None = None
    quantity: int | None = None
    stop_loss: dict[str, Any] | None = None
    take_profit: dict[str, Any] | None = None
    trailing_stop: dict[str, Any] | None = None
    close_price: float | None = None
    why: dict[str, Any] | None = field(default=None, compare=False, repr=False)


TARGET = {"buy": 1, "sell": -1, "close": 0}

# The desk's derived ids of a session's orders are uuid5 of this namespace and a name; here, with
# no Django, so the runner derives a decision's id as the services do.
SESSION_ORDER_NAMESPACE = uuid.UUID("a3f1c0de-5e55-4b1a-9c0d-20f1a77e2020")


def decision_client_order_id(session_id: int, bar_time: int, action: str) -> uuid.UUID:
    """The client order id of the order a session places for its ``action`` on the bar at ``bar_time``.

    Derived, never random: a runner restarted after placing finds the order it placed, and the
    desk's order path returns that order instead of entering a second one.
    """
    return uuid.uuid5(SESSION_ORDER_NAMESPACE, f"session:{session_id}:bar:{bar_time}:{action}")


def exit_distance(spec: dict[str, Any], price: float) -> float:
    """How far from ``price`` an exit ({"mode": "percent", …} or {"mode": "atr", "distance": …}) rests."""
    return price * spec["percent"] / 100.0 if spec["mode"] == "percent" else spec["distance"]


def order_quantity(
    sizing: dict[str, Any] | None, stop_loss: dict[str, Any] | None, *, equity: float, price: float
) -> int:
    """The shares a sizing buys or sells at ``price`` with ``equity``: the backtest's and the live runner's rule.

    Fixed quantity: its quantity (one share without a sizing). Percent of equity: the whole shares
    that percent of ``equity`` buys at ``price``. Risk per trade: the whole shares that lose that
    percent of ``equity`` if the stop-loss is hit (none without a stop-loss). Never negative.
    """
    sizing = sizing or {"kind": "fixed_quantity", "quantity": 1}
    kind = sizing["kind"]
    if kind == "fixed_quantity":
        return int(sizing["quantity"])
    if kind == "percent_of_equity":
        return max(0, math.floor(equity * sizing["percent"] / 100.0 / price))
    distance = exit_distance(stop_loss, price) if stop_loss else 0.0
    if not distance > 0:
        return 0
    return max(0, math.floor(equity * sizing["percent"] / 100.0 / distance))


class Book:
    """The position the evaluator's own decisions make, filled at the next bar's open, exits resting.

    Exits are checked on each bar's range from the fill bar on; when a bar reaches both a stop and
    a target, the stop is taken (the conservative reading of a bar whose path is unknown).
    """

    def __init__(self) -> None:
        self.side = 0
        self.entry_price = math.nan
        self.fill_index = -1
        self.pending: Decision | None = None
        self.stop = self.target = self.trail_distance = math.nan
        self.best = math.nan

    def fill(self, index: int, open_price: float) -> None:
        """Fill the pending decision at bar ``index``'s open."""
        decision, self.pending = self.pending, None
        if decision is None:
            return
        self.side = TARGET[decision.action]
        self.stop = self.target = self.trail_distance = self.best = math.nan
        if not self.side:
            self.entry_price, self.fill_index = math.nan, -1
            return
        self.entry_price, self.fill_index, self.best = open_price, index, open_price
        if decision.stop_loss:
            self.stop = open_price - self.side * exit_distance(decision.stop_loss, open_price)
        if decision.take_profit:
            self.target = open_price + self.side * exit_distance(decision.take_profit, open_price)
        if decision.trailing_stop:
            self.trail_distance = exit_distance(decision.trailing_stop, open_price)

    def exits(self, high: float, low: float) -> None:
        """Close the position when this bar's range reaches a resting stop, trailing stop or target."""
        side = self.side
        if not side:
            return
        # The tighter of the stop and the trailing stop; an exit not set is NaN, which no price reaches.
        stop, trail = self.stop, self.best - side * self.trail_distance
        if math.isnan(stop) or (not math.isnan(trail) and side * (trail - stop) > 0):
            stop = trail
        hit = (low <= stop or high >= self.target) if side > 0 else (high >= stop or low <= self.target)
        if hit:
            self.side, self.entry_price, self.fill_index = 0, math.nan, -1
            self.stop = self.target = self.trail_distance = self.best = math.nan
        elif side > 0:
            self.best = max(self.best, high)
        else:
            self.best = min(self.best, low)

    def state(self, index: int) -> dict[str, Any]:
        """The position node's outputs as of bar ``index``."""
        return {
            "is_flat": self.side == 0,
            "is_long": self.side > 0,
            "is_short": self.side < 0,
            "entry_price": self.entry_price,
            "bars_in_position": index - self.fill_index + 1 if self.side else 0,
        }
