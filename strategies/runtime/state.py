"""A live session's memory between bars, as JSON: the evaluator's book and the forward test's simulator.

The runner writes it with each bar's results (in the same transaction as the bar's decisions and
fills), so a runner that restarts, here or in another process, resumes the session exactly where
the last committed bar left it. No Django here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, fields
from typing import Any

from strategies.backtest.simulator import Simulator, Trade
from strategies.engine.decisions import Book, Decision

_BOOK_FLOATS = ("entry_price", "stop", "target", "trail_distance", "best")
_SIM_FLOATS = ("cash", "stop", "target", "trail_distance", "best", "fees_paid")
_DECISION_FIELDS = {f.name for f in fields(Decision)}
_TRADE_FIELDS = {f.name for f in fields(Trade)}


def _num(value: float) -> float | None:
    # PostgreSQL's JSON has no NaN: an unset level is stored as null.
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _decision(data: dict | None) -> Decision | None:
    if not data:
        return None
    return Decision(**{k: v for k, v in data.items() if k in _DECISION_FIELDS and k != "why"})


def _decision_data(decision: Decision | None) -> dict | None:
    if decision is None:
        return None
    data = asdict(decision)
    data.pop("why", None)  # kept on the decision's row; the state needs only what fills it
    return data


def book_state(book: Book, bars_seen: int) -> dict[str, Any]:
    """The evaluator's book; the fill's place is kept as bars held, since bar indexes do not survive a restart."""
    state = {name: _num(getattr(book, name)) for name in _BOOK_FLOATS}
    state["side"] = book.side
    state["held"] = bars_seen - 1 - book.fill_index if book.side else None
    state["pending"] = _decision_data(book.pending)
    return state


def restore_book(book: Book, state: dict[str, Any], bars_seen: int) -> None:
    """Set ``book`` to ``state`` (from ``book_state``) over a history of ``bars_seen`` bars."""
    for name in _BOOK_FLOATS:
        setattr(book, name, _float(state.get(name)))
    book.side = int(state.get("side") or 0)
    held = state.get("held")
    book.fill_index = bars_seen - 1 - int(held) if book.side and held is not None else -1
    book.pending = _decision(state.get("pending"))


def simulator_state(sim: Simulator) -> dict[str, Any]:
    """The forward test's account: cash, position, resting exits, the trade still open and the fee month."""
    state = {name: _num(getattr(sim, name)) for name in _SIM_FLOATS}
    state.update(
        side=sim.side,
        quantity=sim.quantity,
        has_exits=sim.has_exits,
        bars_in_position=sim.bars_in_position,
        pending=_decision_data(sim.pending),
        open_trade=sim.open_trade.as_dict() if sim.open_trade is not None else None,
        fee_month=list(sim.fees._month) if sim.fees._month else None,
        fee_month_volume=sim.fees._month_volume,
    )
    return state


def restore_simulator(sim: Simulator, state: dict[str, Any]) -> None:
    """Set ``sim`` to ``state`` (from ``simulator_state``)."""
    for name in _SIM_FLOATS:
        setattr(sim, name, _float(state.get(name)))
    sim.side = int(state.get("side") or 0)
    sim.quantity = int(state.get("quantity") or 0)
    sim.has_exits = bool(state.get("has_exits"))
    sim.bars_in_position = int(state.get("bars_in_position") or 0)
    sim.pending = _decision(state.get("pending"))
    trade = state.get("open_trade")
    sim.open_trade = Trade(**{k: v for k, v in trade.items() if k in _TRADE_FIELDS}) if trade else None
    month = state.get("fee_month")
    sim.fees._month = tuple(month) if month else None
    sim.fees._month_volume = float(state.get("fee_month_volume") or 0.0)
