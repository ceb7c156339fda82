"""Run a plan over closed bars: one semantics for history and live.

Bar t is decided once it has closed, from values over bars 0..t only (TA-Lib's indicators are
causal), and the position as of bar t (fills at t's open, exits within t). ``run_history``
computes the series once over all bars and then walks the bars with the same step as
``Evaluator.on_bar``, which recomputes the series over the bars seen so far (a year of one-minute
bars costs TA-Lib a few milliseconds per bar, well inside a minute).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marketdata import sessions
from marketdata.bars import BarRecord
from strategies.engine.decisions import TARGET, Book, Decision
from strategies.engine.history import BarHistory
from strategies.engine.plan import Plan, Step
from strategies.engine.why import explain


class BarRefused(ValueError):
    """A bar the evaluator may not read: still forming, another symbol or resolution, or out of order."""

    code = "strategy.bar_refused"


def compute_series(plan: Plan, history: BarHistory) -> dict[tuple[str, str], Any]:
    """Every history-phase output over all bars in ``history``, by (node, port)."""
    values: dict[tuple[str, str], Any] = {}
    for step in plan.series_steps:
        inputs = {port: values[source] for port, source in step.inputs}
        for port, value in step.node_type.compute(history, inputs, step.params).items():
            values[(step.node, port)] = value
    return values


class Evaluator:
    """Decides on each closed bar of one symbol, in order, as the plan says."""

    def __init__(self, plan: Plan, symbol: str, *, calendar_code: str = sessions.DEFAULT_CALENDAR) -> None:
        self.plan = plan
        self.symbol = symbol
        self.history = BarHistory(calendar_code)
        self.book = Book()
        self._resolution: str | None = None
        self.last_series: dict[tuple[str, str], Any] | None = None

    def on_bar(self, bar: BarRecord, series: dict[tuple[str, str], Any] | None = None) -> list[Decision]:
        """The decisions of ``bar``, the next closed bar (at most one decision a bar).

        ``series``: the history-phase values an evaluator of the same plan computed over the very
        same bars, this one included (the live runner shares them between the sessions of one
        symbol); computed here when None. The values used are kept as ``last_series``.

        :raises BarRefused: the bar is not closed, is another symbol's or resolution's, or does
            not come after the last bar.
        """
        self._admit([bar])
        self.history.append(bar)
        values = self.last_series = series if series is not None else compute_series(self.plan, self.history)
        return self.step(values, len(self.history) - 1)

    def series_key(self) -> tuple:
        """What makes two evaluators' next series equal: the plan and the bars seen (count, first, last)."""
        history = self.history
        n = len(history)
        times = history.column("time")
        return (self.plan.hash, self.symbol, self._resolution, n, times[0] if n else None, times[-1] if n else None)

    def catch_up(self, bars: list[BarRecord]) -> list[Decision]:
        """The decisions of ``bars`` (closed, in order), as ``on_bar`` one by one would make them, in one pass.

        A live runner calls this with the stored history, then ``on_bar`` with each new bar.

        :raises BarRefused: as ``on_bar``, for any of the bars; then none of them is kept.
        """
        start = len(self.history)
        self._admit(bars)
        self.history.extend(bars)
        # Only the new bars' values, as plain lists (they read faster than numpy arrays one element
        # at a time); a runner feeding history chunk by chunk converts each bar once.
        values = {key: value[start:].tolist() for key, value in compute_series(self.plan, self.history).items()}
        prices = {name: self.history.column(name)[start:].tolist() for name in ("open", "high", "low", "close", "time")}
        book, decisions, step = self.book, [], self.step
        if self.plan.uses_position:
            for i in range(start, len(self.history)):
                decisions.extend(step(values, i, prices, start))
            return decisions
        triggers = _any_trigger(self.plan, values, len(self.history) - start)
        high, low = prices["high"], prices["low"]
        for i in range(start, len(self.history)):
            if triggers[i - start] or book.pending is not None:
                decisions.extend(step(values, i, prices, start))
            elif book.side:
                # No action fires on this bar: only the resting exits can change the position.
                book.exits(high[i - start], low[i - start])
        return decisions

    def _admit(self, bars: list[BarRecord]) -> None:
        """Check ``bars`` would follow the bars seen, each the next closed bar; raise ``BarRefused`` if not."""
        last = self.history.column("time")[-1] if len(self.history) else None
        resolution = self._resolution
        for bar in bars:
            if not bar.closed:
                raise BarRefused(
                    f"The bar of {bar.symbol} at {bar.time} has not closed; a strategy reads closed bars only."
                )
            if bar.symbol != self.symbol:
                raise BarRefused(f"A bar of {bar.symbol} reached the evaluator of {self.symbol}.")
            if resolution is not None and bar.resolution != resolution:
                raise BarRefused(f"A {bar.resolution} bar reached an evaluator of {resolution} bars.")
            if last is not None and bar.time <= last:
                raise BarRefused(f"The bar at {bar.time} does not come after the last bar seen.")
            last, resolution = bar.time, bar.resolution
        self._resolution = resolution

    def step(
        self, values: dict[tuple[str, str], Any], i: int, prices: dict[str, Any] | None = None, offset: int = 0
    ) -> list[Decision]:
        """Decide bar ``i`` of the history given the history-phase ``values``.

        ``values`` and ``prices`` (the open, high, low, close and time columns; the history's own
        arrays when not given) hold bars from ``offset`` on, so bar ``i`` is at ``i - offset``.
        """
        book, k = self.book, i - offset
        prices = prices or {name: self.history.column(name) for name in ("open", "high", "low", "close", "time")}
        if book.pending is not None:
            book.fill(i, float(prices["open"][k]))
        if book.side:
            book.exits(float(prices["high"][k]), float(prices["low"][k]))
        if i < self.plan.warmup:
            return []
        at_bar: dict[tuple[str, str], Any] = {}
        if self.plan.uses_position:
            state = book.state(i)
            at_bar.update({(node, port): value for node in self.plan.position_nodes for port, value in state.items()})
        for step in self.plan.bar_steps:
            inputs = {port: _read(values, at_bar, source, k) for port, source in step.inputs}
            for port, value in step.node_type.compute(self.history, inputs, step.params).items():
                at_bar[(step.node, port)] = value
        for action in self.plan.actions:
            if not _read(values, at_bar, action.when, k) or TARGET[action.action] == book.side:
                continue
            decision = self._decision(action, values, at_bar, k, prices)
            if decision is not None:
                book.pending = decision
                return [decision]
        return []

    def _decision(self, action, values, at_bar, k, prices) -> Decision | None:
        """The decision ``action`` makes at position ``k`` of the columns; None while an ATR exit warms up."""

        def read(source):
            return _read(values, at_bar, source, k)

        attached: dict[str, Any] = {}

        def spec(step: Step | None):
            if step is None:
                return None
            inputs = {port: read(source) for port, source in step.inputs}
            attached[step.node] = next(iter(step.node_type.compute(self.history, inputs, step.params).values()))
            return attached[step.node]

        sizing = spec(action.sizing) or {"kind": "fixed_quantity", "quantity": 1}
        exits = {role: spec(step) for role, step in action.exits}
        if any(e["mode"] == "atr" and e["distance"] is None for e in exits.values()):
            return None
        return Decision(
            action=action.action,
            symbol=self.symbol,
            bar_time=int(prices["time"][k]),
            node=action.node,
            sizing=sizing if action.action != "close" else None,
            quantity=sizing.get("quantity") if action.action != "close" else None,
            stop_loss=exits.get("stop_loss"),
            take_profit=exits.get("take_profit"),
            trailing_stop=exits.get("trailing_stop"),
            close_price=float(prices["close"][k]),
            why=explain(self.plan, action, read, attached),
        )


def _read(values, at_bar, source, i):
    if source in at_bar:
        return at_bar[source]
    return values[source][i]


def run_history(
    plan: Plan, bars: list[BarRecord], *, symbol: str | None = None, calendar_code: str = sessions.DEFAULT_CALENDAR
) -> list[Decision]:
    """The decisions ``Evaluator.on_bar`` would make on ``bars`` one by one, computed in one pass.

    :raises BarRefused: as ``on_bar`` for any bar.
    """
    if not bars:
        return []
    return Evaluator(plan, symbol or bars[0].symbol, calendar_code=calendar_code).catch_up(bars)


def _any_trigger(plan: Plan, values, n: int) -> list[bool]:
    hit = np.zeros(n, dtype=bool)
    for action in plan.actions:
        hit |= np.asarray(values[action.when], dtype=bool)
    return hit.tolist()
