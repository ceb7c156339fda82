"""session_equity_record: a closed bar's equity point and the session's figures in one transaction, announced."""

from __future__ import annotations

from decimal import Decimal

import pytest

from strategies.models import SessionEquityPoint, TradingSession
from strategies.services.session_figures import session_equity_record
from strategies.session_metrics import figures
from strategies.tests.factories import TradingSessionFactory

pytestmark = pytest.mark.django_db

BAR = 1_773_154_800


@pytest.fixture
def session(account):
    return TradingSessionFactory(account=account, status=TradingSession.Status.RUNNING, starting_equity=1000)


def test_a_bar_recorded_writes_its_point_and_the_sessions_figures(session):
    got = figures(1000.0, [1010.0, 990.0], [15.0, -20.0], -15.0, 60)

    session_equity_record(session_id=session.pk, bar_time=BAR + 60, equity=990.0, figures=got)

    session.refresh_from_db()
    assert list(SessionEquityPoint.objects.filter(session=session).values_list("bar_time", "equity")) == [
        (BAR + 60, Decimal("990.0000"))
    ]
    assert (session.equity, session.realized_pnl, session.unrealized_pnl) == (
        Decimal("980.0000"),
        Decimal("-5.0000"),
        Decimal("-15.0000"),
    )
    assert (session.max_drawdown, session.peak_pnl) == (Decimal("20.0000"), Decimal("10.0000"))
    assert (session.trade_count, session.win_count, session.last_bar_time) == (2, 1, BAR + 60)
    assert got.sharpe is not None and session.sharpe == pytest.approx(got.sharpe)


def test_a_bar_recorded_again_keeps_one_point_and_an_older_bar_never_moves_the_last_bar_back(session):
    got = figures(1000.0, [1010.0], [], 10.0, 60)
    session_equity_record(session_id=session.pk, bar_time=BAR, equity=1005.0, figures=got)
    session_equity_record(session_id=session.pk, bar_time=BAR + 60, equity=1010.0, figures=got)
    session_equity_record(session_id=session.pk, bar_time=BAR, equity=1006.0, figures=got)

    session.refresh_from_db()
    assert list(SessionEquityPoint.objects.filter(session=session).values_list("bar_time", "equity")) == [
        (BAR, Decimal("1006.0000")),
        (BAR + 60, Decimal("1010.0000")),
    ]
    assert session.last_bar_time == BAR + 60


def test_an_unknown_session_is_refused_and_nothing_is_written():
    with pytest.raises(TradingSession.DoesNotExist):
        session_equity_record(session_id=999_999, bar_time=BAR, equity=1.0, figures=figures(1.0, [], [], 0.0, 60))
    assert not SessionEquityPoint.objects.exists()
