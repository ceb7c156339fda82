"""Graphs and bars the strategy benchmarks share: a 30-node graph, a 10-node EMA crossover, a year of bars."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal


def _node(node_id: str, node_type: str, **params) -> dict:
    return {"id": node_id, "type": node_type, "data": {"params": params}, "position": {"x": 0, "y": 0}}


def _edge(source: str, out: str, target: str, into: str) -> dict:
    return {
        "id": f"{source}-{target}-{into}",
        "source": source,
        "sourceHandle": out,
        "target": target,
        "targetHandle": into,
    }


def ema_crossover() -> dict:
    """Ten nodes: buy when EMA(12) crosses over EMA(26), close on the cross under; 100 shares, an ATR stop."""
    nodes = [
        _node("bar", "bar"), _node("fast", "ema", period=12), _node("slow", "ema", period=26),
        _node("up", "crossover"), _node("down", "crossunder"), _node("atr", "atr", period=14),
        _node("stop", "stop_loss", mode="atr", atr_multiple=2.0), _node("size", "fixed_quantity", quantity=100),
        _node("buy", "buy"), _node("close", "close"),
    ]  # fmt: skip
    edges = [
        _edge("bar", "close", "fast", "series"), _edge("bar", "close", "slow", "series"),
        _edge("fast", "value", "up", "a"), _edge("slow", "value", "up", "b"),
        _edge("fast", "value", "down", "a"), _edge("slow", "value", "down", "b"),
        _edge("atr", "value", "stop", "atr"), _edge("stop", "exit", "buy", "stop_loss"),
        _edge("size", "sizing", "buy", "sizing"), _edge("up", "result", "buy", "when"),
        _edge("down", "result", "close", "when"),
    ]  # fmt: skip
    return {"nodes": nodes, "edges": edges}


def thirty_nodes() -> dict:
    """Thirty nodes over every category: trend, momentum and band filters, position state, exits, sizing."""
    graph = ema_crossover()
    nodes, edges = graph["nodes"], graph["edges"]
    nodes += [
        _node("rsi", "rsi", period=14), _node("rsi_cap", "constant", value=70),
        _node("rsi_ok", "compare", operator="<"),
        _node("macd", "macd"), _node("macd_zero", "constant"), _node("macd_up", "compare", operator=">"),
        _node("bands", "bollinger"), _node("in_band", "range"), _node("sma", "sma", period=50),
        _node("trend", "compare", operator=">"), _node("pos", "position"), _node("entry_ok", "and"),
        _node("filters", "and"), _node("all", "and"), _node("take", "take_profit", percent=3.0),
        _node("trail", "trailing_stop", mode="atr", atr_multiple=3.0), _node("session", "session"),
        _node("late", "compare", operator=">"), _node("late_at", "constant", value=380), _node("exit_any", "or"),
    ]  # fmt: skip
    edges[:] = [e for e in edges if not (e["target"] in ("buy", "close") and e["targetHandle"] == "when")]
    edges += [
        _edge("bar", "close", "rsi", "series"), _edge("rsi", "value", "rsi_ok", "a"),
        _edge("rsi_cap", "value", "rsi_ok", "b"),
        _edge("bar", "close", "macd", "series"), _edge("macd", "histogram", "macd_up", "a"),
        _edge("macd_zero", "value", "macd_up", "b"), _edge("bar", "close", "bands", "series"),
        _edge("bar", "close", "in_band", "value"), _edge("bands", "lower", "in_band", "low"),
        _edge("bands", "upper", "in_band", "high"), _edge("bar", "close", "sma", "series"),
        _edge("bar", "close", "trend", "a"), _edge("sma", "value", "trend", "b"),
        _edge("up", "result", "entry_ok", "a"), _edge("pos", "is_flat", "entry_ok", "b"),
        _edge("rsi_ok", "result", "filters", "a"), _edge("macd_up", "result", "filters", "b"),
        _edge("in_band", "result", "filters", "c"), _edge("entry_ok", "result", "all", "a"),
        _edge("filters", "result", "all", "b"), _edge("trend", "result", "all", "c"),
        _edge("all", "result", "buy", "when"), _edge("take", "exit", "buy", "take_profit"),
        _edge("atr", "value", "trail", "atr"), _edge("trail", "exit", "buy", "trailing_stop"),
        _edge("session", "minutes_since_open", "late", "a"), _edge("late_at", "value", "late", "b"),
        _edge("down", "result", "exit_any", "a"), _edge("late", "result", "exit_any", "b"),
        _edge("exit_any", "result", "close", "when"),
    ]  # fmt: skip
    return graph


def year_of_minute_bars(first_day: date = date(2025, 1, 2), seed: int = 19) -> list:
    """One-minute RTH bars of one symbol over a year of XNYS sessions (about 98,000 bars), a random walk."""
    from marketdata import sessions
    from marketdata.bars import BarRecord

    calendar, rng = sessions.calendar(), random.Random(seed)
    bars, price, day = [], 100.0, first_day
    while day < first_day + timedelta(days=365):
        session = calendar.on(day)
        day += timedelta(days=1)
        if session is None:
            continue
        for t in range(session.open, session.close, 60):
            open_ = price
            price = max(1.0, price + rng.gauss(0, 0.05))
            high, low = max(open_, price) + rng.random() * 0.03, min(open_, price) - rng.random() * 0.03
            prices = (Decimal(f"{x:.2f}") for x in (open_, high, low, price))
            bars.append(BarRecord("SPY", "1", t, *prices, Decimal(rng.randint(100, 10_000)), closed=True))
    return bars
