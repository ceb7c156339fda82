"""A trading session's page: its live row (the figures), its equity chart, its recent decisions and fills.

The chart (static/streams/session_chart.js, lightweight-charts) is drawn from the equity points
embedded in the page and extended live: the page joins the session's account group, as the
sessions page does, and each time the session's row arrives it appends the row's
(``last_bar_time``, ``equity_value``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from marketdata import resolutions
from strategies.models import SessionDecision, SessionFill, TradingSession
from strategies.selectors_sessions import (
    session_decision_list,
    session_equity_curve,
    session_fill_list,
    trading_session_get,
)
from streams import rows
from streams.views import live_context
from tradeconsole.clock import desk_time

RECENT = 50
WHY_ITEMS = 12


def _why(values) -> list[str]:
    """The node values that decided, as ``node.port = value`` lines (nested objects flattened)."""
    found: list[str] = []

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, float):
            found.append(f"{prefix} = {value:.6g}")
        else:
            found.append(f"{prefix} = {json.dumps(value)[:60]}")

    walk("", values if isinstance(values, dict) else {"value": values})
    return found[:WHY_ITEMS]


def _number(value, places: int | None = None) -> str:
    if value is None:
        return ""
    return f"{value:,.{places}f}" if places is not None else f"{value.normalize():f}"


def _bar_time(epoch: int) -> str:
    return desk_time(datetime.fromtimestamp(epoch, tz=UTC))


def decision_line(decision: SessionDecision) -> dict:
    """What the page shows of one decision."""
    return {
        "bar_at": _bar_time(decision.bar_time),
        "action": decision.action,
        "node": decision.node,
        "outcome": decision.outcome,
        "outcome_label": decision.get_outcome_display(),
        "quantity": _number(decision.quantity),
        "price": _number(decision.price, 2),
        "order_id": decision.order_id,
        "order_short": str(decision.order.client_order_id)[:8] if decision.order_id else "",
        "why": _why(decision.values),
        "problem": f"{decision.message} ({decision.error_code})" if decision.error_code else decision.message,
    }


def fill_line(fill: SessionFill) -> dict:
    """What the page shows of one forward-test fill."""
    return {
        "at": desk_time(fill.time),
        "side": fill.side,
        "quantity": fill.quantity,
        "price": _number(fill.price, 2),
        "fee": _number(fill.fee, 2),
        "reason": fill.reason,
    }


def _recent(found: TradingSession) -> dict:
    return {
        "session": found,
        "decisions": [decision_line(d) for d in session_decision_list(session=found)[:RECENT]],
        "fills": [fill_line(f) for f in session_fill_list(session=found)[:RECENT]],
        "recent": RECENT,
    }


@login_required
def session(request: HttpRequest, pk: int) -> HttpResponse:
    """One session on the user's accounts (404 otherwise): its live figures, equity chart, decisions and fills.

    ``?part=recent`` answers only what changes with each bar below the chart (figures, decisions,
    fills): the page reads it again after each new bar.
    """
    try:
        found = trading_session_get(user=request.user, pk=pk)
    except TradingSession.DoesNotExist:
        raise Http404("No such session on your accounts.") from None
    if request.GET.get("part") == "recent":
        return render(request, "streams/_session_recent.html", _recent(found))
    # Only this account's group: the same rows as the sessions page, the other sessions' ignored.
    context = live_context(request, "session", account_ids={found.account_id}, query={"account": str(found.account_id)})
    curve = session_equity_curve(session=found, newest=True)
    start = found.starting_equity
    context.update(
        _recent(found),
        title=f"{found.strategy.name} on {found.account.code}",
        session_row=rows.session_row(found),
        curve={
            "time": [t for t, _ in curve],
            "equity": [float(e) for _, e in curve],
            "start": None if start is None else float(start),
        },
        resolution_seconds=resolutions.parse(found.resolution).seconds,
    )
    return render(request, "streams/session.html", context)
