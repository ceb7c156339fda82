"""Synthetic bars on real XNYS sessions and small graph builders for the engine's tests."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from marketdata import sessions
from marketdata.bars import BarRecord

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_NAMES = ("ema_crossover", "rsi_mean_reversion", "bollinger_breakout")


def walk_bars(
    count: int, *, seed: int = 7, first_day: date = date(2026, 3, 2), symbol: str = "AAPL"
) -> list[BarRecord]:
    """``count`` closed one-minute bars of a random walk, on the XNYS sessions from ``first_day`` on."""
    rng = random.Random(seed)
    calendar = sessions.calendar()
    out: list[BarRecord] = []
    price, day = 100.0, first_day
    while len(out) < count:
        session = calendar.on(day)
        day += timedelta(days=1)
        if session is None:
            continue
        for t in range(session.open, session.close, 60):
            if len(out) == count:
                break
            open_ = price
            price = max(1.0, price + rng.gauss(0, 0.3))
            high, low = max(open_, price) + rng.random() * 0.2, min(open_, price) - rng.random() * 0.2
            out.append(bar(t, open_, high, low, price, volume=rng.randint(100, 5000), symbol=symbol))
    return out


def bar(t: int, o: float, h: float, lo: float, c: float, *, volume: float = 1000, symbol: str = "AAPL") -> BarRecord:
    """A closed one-minute bar (prices rounded to cents, as the desk's bars are)."""

    def cents(x: float) -> Decimal:
        return Decimal(f"{x:.2f}")

    return BarRecord(symbol, "1", t, cents(o), cents(h), cents(lo), cents(c), Decimal(int(volume)), closed=True)


def node(node_id: str, node_type: str, **params) -> dict:
    return {"id": node_id, "type": node_type, "data": {"params": params}, "position": {"x": 0, "y": 0}}


def edge(source: str, source_port: str | None, target: str, target_port: str | None) -> dict:
    return {
        "id": f"{source}.{source_port}->{target}.{target_port}",
        "source": source,
        "sourceHandle": source_port,
        "target": target,
        "targetHandle": target_port,
    }


def graph(nodes: list[dict], edges: list[dict]) -> dict:
    return {"nodes": nodes, "edges": edges}


def template(name: str) -> dict:
    return json.loads((TEMPLATES / f"{name}.json").read_text())
