"""Recording a trading session's equity after a closed bar, with the figures it leads to (the runner calls it).

There is no audit row here: these are the runner's measurements of a running session, one a
bar, not a person's decision; what the session did is in its decisions and fills.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from accounts.announce import announce_object
from strategies.models import SessionEquityPoint, TradingSession
from strategies.session_metrics import SessionFigures

CENTS_100 = Decimal("0.0001")  # the money fields' four decimal places

FIGURE_FIELDS = [
    "equity", "realized_pnl", "unrealized_pnl", "max_drawdown", "peak_pnl", "trade_count", "win_count",
    "sharpe", "last_bar_time", "updated_at",
]  # fmt: skip


def money(value: float) -> Decimal:
    """``value`` as the money fields hold it (four decimal places)."""
    return Decimal(repr(float(value))).quantize(CENTS_100)


def session_figures_apply(session: TradingSession, *, bar_time: int, figures: SessionFigures) -> list[str]:
    """Set ``figures`` and ``bar_time`` on ``session`` (unsaved); return the fields changed.

    ``last_bar_time`` never moves back: an older bar recorded again leaves it where it was.
    """
    session.equity = money(figures.equity)
    session.realized_pnl = money(figures.realized)
    session.unrealized_pnl = money(figures.unrealized)
    session.max_drawdown = money(figures.max_drawdown)
    session.peak_pnl = money(figures.peak_pnl)
    session.trade_count = figures.trade_count
    session.win_count = figures.win_count
    session.sharpe = figures.sharpe
    session.last_bar_time = max(bar_time, session.last_bar_time or bar_time)
    return FIGURE_FIELDS


@transaction.atomic
def session_equity_record(*, session_id: int, bar_time: int, equity: float, figures: SessionFigures) -> TradingSession:
    """Record the session's ``equity`` after the bar starting at ``bar_time`` (epoch s) and its ``figures``.

    One transaction: the equity point (written again with the new equity if the bar was
    recorded before, so a runner that repeats a bar after a crash records it once) and the
    session's figures; the session is announced on commit, so its row on the live pages (and the
    equity chart of its page) moves.

    :raises TradingSession.DoesNotExist: there is no session ``session_id``.
    """
    session = TradingSession.objects.select_for_update().get(pk=session_id)
    SessionEquityPoint.objects.update_or_create(session=session, bar_time=bar_time, defaults={"equity": money(equity)})
    session.save(update_fields=session_figures_apply(session, bar_time=bar_time, figures=figures))
    announce_object(session)
    return session
