"""The runner's writes: each session's closed bars (decisions, simulated fills, equity, figures, state) and leases.

A session's bars are recorded only while the writing runner holds its lease and the session runs
(locked, in the transaction that writes them), and only bars after the last one recorded: a runner
whose lease moved on, or that replays a bar after a restart, writes nothing twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db import connection, transaction

from accounts.announce import announce
from accounts.services import audit_record
from accounts.services.alerts import alert_raise
from marketdata.models import Bar
from strategies import sql
from strategies.backtest.fees import FeeModel
from strategies.backtest.simulator import Simulator
from strategies.backtest.slippage import SlippageModel
from strategies.models import SessionDecision, SessionEquityPoint, SessionFill, TradingSession
from strategies.runtime import state as saved
from strategies.runtime.live_session import BarResult, SimulatedFill, exit_fill
from strategies.services.session_figures import FIGURE_FIELDS, money, session_figures_apply
from strategies.session_metrics import RunningFigures, SessionFigures

SESSION = "strategies.tradingsession"


@dataclass
class SessionBars:
    """One session's closed bars since its last record, in order, and its state after the last one."""

    session_id: int
    results: list[BarResult]
    state: dict


def _money(value: float | None) -> Decimal | None:
    return None if value is None or value != value else money(value)


def _when(t: int) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def _fill_row(session_id: int, fill: SimulatedFill, decision: SessionDecision | None) -> SessionFill:
    return SessionFill(
        session_id=session_id,
        decision=decision,
        time=_when(fill.time),
        side=fill.side,
        quantity=fill.quantity,
        price=_money(fill.price),
        fee=_money(fill.fee),
        reason=fill.reason[:16],
    )


def _decision_row(session_id: int, result: BarResult) -> SessionDecision:
    decision = result.decision
    fill = next((f for f in result.fills if f.reason == "entry" or result.outcome == "filled"), None)
    return SessionDecision(
        session_id=session_id,
        bar_time=result.bar_time,
        action=decision.action,
        node=decision.node,
        outcome=result.outcome,
        quantity=fill.quantity if fill is not None and result.outcome == "filled" else decision.quantity,
        price=_money(fill.price if fill is not None and result.outcome == "filled" else decision.close_price),
        values=decision.why or {},
        message="The bar was older than the runner may act on." if result.outcome == "stale" else "",
    )


def _apply_figures(session: TradingSession, figures: SessionFigures) -> None:
    # The one way figures reach a session's fields (the session page's own recorder uses it too).
    session_figures_apply(session, bar_time=session.last_bar_time, figures=figures)


def _record_sessions(changed: list[tuple[TradingSession, bool]]) -> None:
    """Write each changed session's last bar, state and (when it has them) figures, one statement a kind."""
    with connection.cursor() as cursor:
        for figures in (True, False):
            names = ("last_bar_time", "state", *(sql.FIGURES if figures else ()))
            rows = [{"id": s.pk, **{name: getattr(s, name) for name in names}} for s, has in changed if has is figures]
            if rows:
                sql.record_sessions(cursor, rows, figures=figures)


@transaction.atomic
def session_bars_record(*, owner: str, batch: list[SessionBars]) -> set[int]:
    """Record each session's new bars in one transaction; return the ids of the sessions recorded.

    A session is skipped (nothing written) when ``owner`` no longer holds its lease, it is no
    longer running, or its first bar here is not after its last recorded bar. Decisions made by
    a forward test (and stale decisions of either mode) get their rows, with an audit row each;
    a broker session's acted decisions are recorded by ``session_order_place`` before this.
    """
    if not batch:
        return set()
    by_id = {item.session_id: item for item in batch}
    # One plain statement: the ORM compiled this read on every batch (~1 ms of CPU).
    sessions = {s.pk: s for s in sql.sessions_lock_for_record(list(by_id), owner=owner)}
    recorded: set[int] = set()
    points, fills, changed, stale = [], [], [], []
    for pk, session in sessions.items():
        item = by_id[pk]
        results = [r for r in item.results if session.last_bar_time is None or r.bar_time > session.last_bar_time]
        if not results:
            continue
        for result in results:
            decision = None
            if result.decision is not None and result.outcome is not None:
                decision = _decision_row(pk, result)
                decision.save()
                if result.outcome == "stale":
                    stale.append((session, result.bar_time))
                audit_record(
                    actor=None,
                    action="trading_session.decision",
                    obj=session,
                    account=session.account,
                    after={"bar_time": result.bar_time, "action": decision.action, "outcome": decision.outcome},
                    via="runner",
                )
            fills.extend(_fill_row(pk, f, decision if f.reason == "entry" else None) for f in result.fills)
            if result.equity is not None:
                points.append(SessionEquityPoint(session_id=pk, bar_time=result.bar_time, equity=_money(result.equity)))
        last = results[-1]
        session.last_bar_time = last.bar_time
        session.state = item.state
        if last.figures is not None:
            _apply_figures(session, last.figures)
        changed.append((session, last.figures is not None))
        recorded.add(pk)
    SessionFill.objects.bulk_create(fills)
    SessionEquityPoint.objects.bulk_create(points, ignore_conflicts=True)
    _record_sessions(changed)
    for session, bar_time in stale:
        alert_raise(
            key=f"trading_session.stale_bar:{session.pk}",
            kind="trading_session.stale_bar",
            message=f"Session {session.pk} did not act on the bar at {_when(bar_time):%Y-%m-%d %H:%M} UTC: "
            "it was older than the runner may act on.",
            account=session.account,
            data={"session": session.pk, "bar_time": bar_time},
            renew=True,
        )
    for pk in recorded:
        announce(SESSION, pk)
    return recorded


def flatten_price(session: TradingSession) -> float | None:
    """The price a forward test's position closes at now: the instrument's last recorded price (the
    desk keeps it from the live quotes), else the last stored bar's close; None when flat or unpriced."""
    side = int(((session.state or {}).get("sim") or {}).get("side") or 0)
    if not side or session.instrument_id is None:
        return None
    if session.instrument.last_price:
        return float(session.instrument.last_price)
    close = (
        Bar.objects.filter(instrument_id=session.instrument_id, resolution=session.resolution)
        .order_by("-start")
        .values_list("close", flat=True)
        .first()
    )
    return float(close) if close is not None else None


def session_forward_flatten(*, session: TradingSession, price: float, at: int) -> list[SessionFill]:
    """Close a forward test's simulated position at ``price`` (epoch ``at``), from its last recorded state.

    Call inside the transaction that stops the session, with the session row locked: a bar the
    runner has in flight is then refused (the session no longer runs), so the position closed
    here is the last one recorded. Writes the fills, the flat state and the figures; returns the
    fills (none when flat or already flattened).
    """
    kept = session.state or {}
    if session.mode != TradingSession.Mode.FORWARD or kept.get("flattened") or not kept.get("sim"):
        return []
    sim = Simulator(
        session.instrument.symbol if session.instrument_id else "",
        cash=0.0,
        fees=FeeModel(session.fee_model),
        slippage=SlippageModel(session.slippage_model, float(session.slippage_amount)),
    )
    saved.restore_simulator(sim, kept["sim"])
    if not sim.side:
        return []
    sim.close_now(at, price, "flatten")
    figures = RunningFigures.from_state(kept["figures"]) if kept.get("figures") else None
    rows = []
    for trade in sim.trades:
        rows.append(_fill_row(session.pk, exit_fill(trade), None))
        if figures is not None:
            figures.on_trade(trade.pnl)
    if figures is not None:
        figures.on_bar(sim.cash, 0.0)
        _apply_figures(session, figures.snapshot())
    sim.trades.clear()
    book = dict(kept.get("book") or {})
    book.update(side=0, held=None, pending=None, entry_price=None, stop=None, target=None, trail_distance=None)
    session.state = {
        **kept,
        "sim": saved.simulator_state(sim),
        "book": book,
        "figures": figures.state() if figures is not None else kept.get("figures"),
        "flattened": True,
    }
    SessionFill.objects.bulk_create(rows)
    session.save(update_fields=["state", *FIGURE_FIELDS])
    audit_record(
        actor=None,
        action="trading_session.flatten",
        obj=session,
        account=session.account,
        after={"price": price, "fills": len(rows)},
        via="runner",
    )
    announce(SESSION, session.pk)
    return rows


def session_leases_take(*, owner: str, ttl_seconds: float, capacity: int) -> list[int]:
    """Renew this runner's leases and take free ones, up to ``capacity`` sessions; the ids held now.

    A lease is free when nobody holds it or it expired (its runner died or stalled); running
    sessions only. Rows another runner is taking at this instant are skipped, not waited for.
    """
    with connection.cursor() as cursor:
        return sql.take_leases(cursor, owner=owner, ttl_seconds=ttl_seconds, capacity=capacity)


def session_leases_release(*, owner: str, session_ids: list[int] | None = None) -> int:
    """Give up this runner's leases (all, or those of ``session_ids``) so another runner takes them at once."""
    with connection.cursor() as cursor:
        return sql.release_leases(cursor, owner=owner, session_ids=session_ids)


def runner_name() -> str:
    """A name for one runner process, unique across restarts (host, pid and a random part)."""
    import os
    import socket

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
