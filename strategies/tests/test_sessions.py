"""Trading session controls: start, pause, resume, stop; audit rows; who may use them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.exceptions import AccountNotMember, PermissionRequired
from accounts.models import AccountValue, AuditLog
from strategies.exceptions import StrategyDisabled, StrategyNotAllowedOnAccount, TradingSessionTransitionRefused
from strategies.selectors import trading_session_list
from strategies.services import (
    trading_session_pause,
    trading_session_resume,
    trading_session_start,
    trading_session_stop,
)
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = pytest.mark.django_db


def test_a_session_runs_pauses_resumes_and_stops_with_an_audit_row_each(trader, account):
    AccountValue.objects.create(
        account=account, tag="NetLiquidation", value="250000.00", updated_at="2026-01-02T15:00:00Z"
    )
    session = TradingSessionFactory(account=account)
    session = trading_session_start(session=session, actor=trader, via="test")
    assert (session.status, session.starting_equity) == ("running", Decimal("250000"))
    assert session.started_at is not None
    assert trading_session_pause(session=session, actor=trader, via="test").status == "paused"
    assert trading_session_resume(session=session, actor=trader, via="test").status == "running"
    session = trading_session_stop(session=session, actor=trader, via="test")
    assert (session.status, session.stopped_at is not None) == ("stopped", True)
    assert list(AuditLog.objects.order_by("id").values_list("action", flat=True)) == [
        "trading_session.start",
        "trading_session.pause",
        "trading_session.resume",
        "trading_session.stop",
    ]


@pytest.mark.parametrize(
    ("status", "control"),
    [
        ("running", trading_session_start),
        ("paused", trading_session_start),
        ("pending", trading_session_pause),
        ("paused", trading_session_pause),
        ("running", trading_session_resume),
        ("stopped", trading_session_resume),
        ("stopped", trading_session_stop),
        ("stopped", trading_session_start),
    ],
)
def test_a_control_that_does_not_fit_the_sessions_state_is_refused(trader, account, status, control):
    session = TradingSessionFactory(account=account, status=status)
    with pytest.raises(TradingSessionTransitionRefused):
        control(session=session, actor=trader, via="test")
    session.refresh_from_db()
    assert session.status == status
    assert not AuditLog.objects.exists()


def test_a_disabled_strategy_cannot_start_or_resume(trader, account):
    strategy = StrategyFactory(enabled=False)
    with pytest.raises(StrategyDisabled):
        trading_session_start(
            session=TradingSessionFactory(account=account, strategy=strategy), actor=trader, via="test"
        )
    with pytest.raises(StrategyDisabled):
        trading_session_resume(
            session=TradingSessionFactory(account=account, strategy=strategy, status="paused"), actor=trader, via="test"
        )


def test_a_strategy_limited_to_other_accounts_cannot_start_here(trader, account, other_account):
    strategy = StrategyFactory()
    strategy.accounts.set([other_account])
    with pytest.raises(StrategyNotAllowedOnAccount):
        trading_session_start(
            session=TradingSessionFactory(account=account, strategy=strategy), actor=trader, via="test"
        )


def test_a_viewer_or_an_outsider_may_not_control_sessions(viewer, trader, account, other_account):
    with pytest.raises(PermissionRequired):
        trading_session_start(session=TradingSessionFactory(account=account), actor=viewer, via="test")
    with pytest.raises(AccountNotMember):
        trading_session_start(session=TradingSessionFactory(account=other_account), actor=trader, via="test")


def test_sessions_are_listed_only_on_the_users_accounts(trader, account, other_account):
    mine = TradingSessionFactory(account=account)
    TradingSessionFactory(account=other_account)
    assert list(trading_session_list(user=trader)) == [mine]
