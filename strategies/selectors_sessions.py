"""Reads of what a trading session left behind: its equity curve, decisions and forward-test fills.

Every read starts from a session the caller already found through ``trading_session_get``, which
applies the account scoping once.
"""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from strategies.models import SessionDecision, SessionEquityPoint, SessionFill, TradingSession
from strategies.selectors import trading_session_list

# The most points one read of a curve returns (a year of 15-minute bars is about 6,600).
CURVE_POINTS = 10_000


def trading_session_get(*, user: User, pk: int) -> TradingSession:
    """Return session ``pk`` on one of ``user``'s accounts, with what its row shows loaded.

    :raises TradingSession.DoesNotExist: there is no such session, or not on the user's accounts.
    """
    return trading_session_list(user=user).get(pk=pk)


def session_equity_curve(
    *, session: TradingSession, since: int | None = None, limit: int = CURVE_POINTS, newest: bool = False
) -> list[tuple[int, object]]:
    """Return ``(bar_time, equity)`` of the session's bars after ``since`` (epoch s), oldest first.

    At most ``limit`` points: the oldest ones after ``since`` (so that reading on from the last
    time returned gives the rest), or with ``newest`` the newest ones (what a chart shows first).
    """
    points = SessionEquityPoint.objects.filter(session=session)
    if since is not None:
        points = points.filter(bar_time__gt=since)
    if newest:
        return list(points.order_by("-bar_time").values_list("bar_time", "equity")[:limit])[::-1]
    return list(points.order_by("bar_time").values_list("bar_time", "equity")[:limit])


def session_decision_list(*, session: TradingSession) -> QuerySet[SessionDecision]:
    """Return the session's decisions, newest bar first, with their orders."""
    return SessionDecision.objects.filter(session=session).select_related("order").order_by("-bar_time")


def session_fill_list(*, session: TradingSession) -> QuerySet[SessionFill]:
    """Return the session's forward-test fills, newest first."""
    return SessionFill.objects.filter(session=session).select_related("decision").order_by("-time", "-id")
