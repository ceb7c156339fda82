"""The Strategy sessions page's controls: pause asks why, stop asks why and whether to flatten;
the reason shows on the row."""

from __future__ import annotations

import pytest

from accounts.models import AuditLog
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def running(account):
    return TradingSessionFactory(strategy=StrategyFactory(name="Breakout"), account=account, status="running")


def test_the_stop_buttons_ask_why_and_one_of_them_flattens(client, trader, running, redis_client):
    client.force_login(trader)
    page = client.get("/live/sessions/").content.decode()
    assert f'hx-prompt="Why stop Breakout on {running.account.code} for good? Its position is left' in page
    assert f'hx-post="/live/sessions/{running.pk}/stop" hx-vals=\'{{"flatten": "1"}}\'' in page
    assert f'hx-prompt="Why pause Breakout on {running.account.code}?' in page


def test_a_trader_pauses_with_the_prompts_answer_and_the_row_shows_it(client, trader, running, redis_client):
    client.force_login(trader)
    response = client.post(f"/live/sessions/{running.pk}/pause", HTTP_HX_PROMPT="Earnings call")
    assert response.status_code == 200
    assert "Earnings call" in response.content.decode()
    running.refresh_from_db()
    assert (running.status, running.status_reason) == ("paused", "Earnings call")


def test_a_trader_stops_and_flattens_with_a_reason(client, trader, running, redis_client):
    client.force_login(trader)
    response = client.post(f"/live/sessions/{running.pk}/stop", {"flatten": "1"}, HTTP_HX_PROMPT="Wrong symbol")
    assert response.status_code == 200
    assert 'class="session status-stopped"' in response.content.decode()
    running.refresh_from_db()
    assert (running.status, running.status_reason, running.flatten_on_stop) == ("stopped", "Wrong symbol", True)
    audit = AuditLog.objects.get(action="trading_session.stop")
    assert (audit.actor, audit.via) == (trader, "dashboard")


def test_a_stop_without_flatten_leaves_the_flag_off(client, trader, running, redis_client):
    client.force_login(trader)
    assert client.post(f"/live/sessions/{running.pk}/stop", {"reason": "Done"}).status_code == 200
    running.refresh_from_db()
    assert (running.status, running.status_reason, running.flatten_on_stop) == ("stopped", "Done", False)


def test_a_reason_too_long_is_refused_as_a_problem(client, trader, running, redis_client):
    client.force_login(trader)
    response = client.post(f"/live/sessions/{running.pk}/stop", {"reason": "x" * 201})
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("trading_session.invalid", "reason")
    running.refresh_from_db()
    assert running.status == "running"


def test_a_viewer_may_not_stop_a_session(client, viewer, running, redis_client):
    client.force_login(viewer)
    page = client.get("/live/sessions/").content.decode()
    assert "Stop + flatten" not in page
    assert client.post(f"/live/sessions/{running.pk}/stop", {"flatten": "1"}).status_code == 403
    running.refresh_from_db()
    assert running.status == "running"


@pytest.fixture
def pending(account):
    return TradingSessionFactory(
        strategy=StrategyFactory(name="Opening drive"), account=account, mode="forward", starting_equity=100_000
    )


def test_a_pending_session_has_a_start_button_and_no_pause_or_resume(client, trader, pending, running, redis_client):
    client.force_login(trader)
    page = client.get("/live/sessions/").content.decode()

    assert f'hx-post="/live/sessions/{pending.pk}/start"' in page
    assert f'hx-post="/live/sessions/{running.pk}/start"' not in page  # running: Pause and Stop only
    assert f'hx-post="/live/sessions/{pending.pk}/pause"' not in page
    assert f'hx-post="/live/sessions/{pending.pk}/resume"' not in page


def test_a_trader_starts_a_pending_session_from_its_row(client, trader, pending, redis_client):
    client.force_login(trader)

    response = client.post(f"/live/sessions/{pending.pk}/start")

    assert response.status_code == 200
    row = response.content.decode()
    assert 'class="session status-running"' in row and ">Start</button>" not in row and ">Pause</button>" in row
    pending.refresh_from_db()
    assert pending.status == "running" and pending.started_at is not None
    audit = AuditLog.objects.get(action="trading_session.start")
    assert (audit.actor, audit.via) == (trader, "dashboard")


def test_a_running_session_cannot_be_started_again(client, trader, running, redis_client):
    client.force_login(trader)

    response = client.post(f"/live/sessions/{running.pk}/start")

    assert response.status_code == 409
    assert response.json()["code"] == "trading_session.transition_refused"


def test_a_viewer_may_not_start_a_session(client, viewer, pending, redis_client):
    client.force_login(viewer)
    page = client.get("/live/sessions/").content.decode()
    assert ">Start</button>" not in page

    assert client.post(f"/live/sessions/{pending.pk}/start").status_code == 403
    pending.refresh_from_db()
    assert pending.status == "pending"


def test_a_trader_may_not_start_a_session_of_an_account_not_theirs(client, trader, other_account, redis_client):
    theirs = TradingSessionFactory(account=other_account, mode="forward", starting_equity=100_000)
    client.force_login(trader)

    assert client.post(f"/live/sessions/{theirs.pk}/start").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "pending"
