"""The strategies API: strategies, trading sessions and their controls (start, pause, resume, stop)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = pytest.mark.django_db


def control(api_client, session, action: str):
    return api_client.post(reverse(f"api-v1:trading-session-{action}", kwargs={"pk": session.pk}))


def test_a_trader_runs_a_session_through_its_whole_life(api_client, trader, account):
    session = TradingSessionFactory(strategy=StrategyFactory(name="pairs"), account=account)
    api_client.force_authenticate(trader)

    statuses = [
        control(api_client, session, action).json()["status"] for action in ("start", "pause", "resume", "stop")
    ]

    assert statuses == ["running", "paused", "running", "stopped"]
    actions = list(AuditLog.objects.filter(actor=trader, via="api").values_list("action", flat=True))
    assert len(actions) == 4


def test_a_refused_move_is_a_conflict_with_its_code(api_client, trader, account):
    session = TradingSessionFactory(strategy=StrategyFactory(name="pairs"), account=account, status="stopped")
    api_client.force_authenticate(trader)

    response = control(api_client, session, "resume")

    assert response.status_code == 409
    assert response.json()["code"] == "trading_session.transition_refused"


def test_sessions_of_another_desk_are_hidden_and_cannot_be_controlled(api_client, trader, account, other_account):
    strategy = StrategyFactory(name="pairs")
    mine = TradingSessionFactory(strategy=strategy, account=account)
    theirs = TradingSessionFactory(strategy=strategy, account=other_account, status="running")
    api_client.force_authenticate(trader)

    listed = api_client.get(reverse("api-v1:trading-session-list")).json()["results"]
    filtered = api_client.get(reverse("api-v1:trading-session-list"), {"account": other_account.code}).json()
    stopped = control(api_client, theirs, "stop")

    assert [row["id"] for row in listed] == [mine.pk]
    assert filtered["results"] == []
    assert stopped.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "running"


def test_strategies_are_listed_with_their_accounts(api_client, viewer, account):
    strategy = StrategyFactory(name="pairs")
    strategy.accounts.add(account)
    api_client.force_authenticate(viewer)

    rows = api_client.get(reverse("api-v1:strategy-list")).json()["results"]

    assert [(row["name"], row["accounts"]) for row in rows] == [("pairs", [account.code])]
