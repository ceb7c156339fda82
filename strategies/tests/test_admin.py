"""The strategies admin: parameters as a JSON object, session controls through services, scoping."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.tests.factories import UserFactory
from strategies.models import Strategy, TradingSession
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = pytest.mark.django_db

SESSIONS_URL = reverse("admin:strategies_tradingsession_changelist")
STRATEGY_ADD_URL = reverse("admin:strategies_strategy_add")


def strategy_form(account, parameters: str) -> dict:
    return {"name": "Breakout", "description": "", "parameters": parameters, "accounts": [account.pk], "enabled": "on"}


@pytest.mark.parametrize("parameters", ["[1, 2]", '"fast"', "3", "{bad json"])
def test_strategy_parameters_must_be_a_json_object(admin_client, account, parameters):
    response = admin_client.post(STRATEGY_ADD_URL, strategy_form(account, parameters))
    assert response.status_code == 200
    assert "parameters" in response.context["adminform"].form.errors
    assert not Strategy.objects.filter(name="Breakout").exists()


def test_a_strategy_with_a_parameter_object_is_saved(admin_client, account):
    response = admin_client.post(STRATEGY_ADD_URL, strategy_form(account, '{"fast": 10, "slow": 30}'))
    assert response.status_code == 302
    strategy = Strategy.objects.get(name="Breakout")
    assert strategy.parameters == {"fast": 10, "slow": 30}
    assert list(strategy.accounts.all()) == [account]


def test_the_strategy_form_offers_only_the_users_accounts(client, account, other_account):
    manager = UserFactory(username="strategist", roles=[Role.ADMIN], accounts=[account])
    client.force_login(manager)
    choices = client.get(STRATEGY_ADD_URL).context["adminform"].form.fields["accounts"].queryset
    assert list(choices) == [account]


def test_session_controls_go_through_the_services(client, trader, account):
    strategy = StrategyFactory(name="Mean reversion")
    strategy.accounts.add(account)
    session = TradingSessionFactory(strategy=strategy, account=account)
    client.force_login(trader)
    for action, status in (
        ("start_sessions", TradingSession.Status.RUNNING),
        ("pause_sessions", TradingSession.Status.PAUSED),
        ("resume_sessions", TradingSession.Status.RUNNING),
        ("stop_sessions", TradingSession.Status.STOPPED),
    ):
        # Stop asks for its reason first (test_admin_sessions.py); this is the form's answer.
        answer = {"apply": "1", "reason": "Done"} if action == "stop_sessions" else {}
        client.post(SESSIONS_URL, {"action": action, "_selected_action": [session.pk], **answer})
        session.refresh_from_db()
        assert session.status == status, action
    actions = list(
        AuditLog.objects.filter(object_id=str(session.pk), via="admin").order_by("id").values_list("action", flat=True)
    )
    assert actions == [
        "trading_session.start", "trading_session.pause", "trading_session.resume", "trading_session.stop",
    ]  # fmt: skip


def test_a_refused_session_move_is_reported_and_changes_nothing(client, trader, account):
    session = TradingSessionFactory(strategy=StrategyFactory(), account=account)
    client.force_login(trader)
    response = client.post(SESSIONS_URL, {"action": "pause_sessions", "_selected_action": [session.pk]}, follow=True)
    session.refresh_from_db()
    assert session.status == TradingSession.Status.PENDING
    assert "trading_session.transition_refused" in response.content.decode()


def test_a_trader_sees_only_the_sessions_of_their_accounts(client, trader, account, other_account):
    own = TradingSessionFactory(account=account)
    other = TradingSessionFactory(account=other_account)
    client.force_login(trader)
    assert list(client.get(SESSIONS_URL).context["cl"].result_list) == [own]
    response = client.get(reverse("admin:strategies_tradingsession_change", args=[other.pk]))
    assert response.status_code == 302
    client.post(SESSIONS_URL, {"action": "start_sessions", "_selected_action": [other.pk]})
    other.refresh_from_db()
    assert other.status == TradingSession.Status.PENDING


def test_a_viewer_cannot_control_sessions(client, viewer, account):
    session = TradingSessionFactory(account=account)
    client.force_login(viewer)
    assert "start_sessions" not in client.get(SESSIONS_URL).content.decode()
    client.post(SESSIONS_URL, {"action": "start_sessions", "_selected_action": [session.pk]})
    session.refresh_from_db()
    assert session.status == TradingSession.Status.PENDING
