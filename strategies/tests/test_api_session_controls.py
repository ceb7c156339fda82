"""The trading-sessions API: opening a session with its mode, version, symbol, costs and limits;
pause and stop with a reason, and stop with flatten; the service's refusals as problem+json."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from strategies.models import TradingSession
from strategies.services import strategy_version_approve
from strategies.tests.factories import StrategyFactory, TradingSessionFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("api-v1:trading-session-list")


def body(version, **fields) -> dict:
    return {"account": "DU0000001", "version": version.pk, "symbol": "AAPL", "starting_equity": "100000", **fields}


def control(api_client, session, action: str, data=None):
    url = reverse(f"api-v1:trading-session-{action}", kwargs={"pk": session.pk})
    return api_client.post(url, data or {}, format="json")


def test_a_session_is_opened_with_every_field(api_client, admin_user, account, instrument, ema_version):
    api_client.force_authenticate(admin_user)
    response = api_client.post(
        LIST_URL,
        body(
            ema_version,
            symbol="aapl",
            resolution="15",
            fee_model="none",
            slippage_model="bps",
            slippage_amount="1.5",
            max_position=500,
            max_daily_loss="2000",
        ),
        format="json",
    )
    assert response.status_code == 201, response.content
    session = TradingSession.objects.get(pk=response.json()["id"])
    assert (session.status, session.mode, session.version, session.instrument, session.resolution) == (
        "pending",
        "forward",
        ema_version,
        instrument,
        "15",
    )
    assert (session.fee_model, session.slippage_model, session.slippage_amount) == ("none", "bps", Decimal("1.5"))
    assert (session.max_position, session.max_daily_loss, session.starting_equity) == (
        500,
        Decimal("2000"),
        Decimal("100000"),
    )
    assert AuditLog.objects.get(action="trading_session.create").via == "api"
    shown = response.json()
    assert {key: shown[key] for key in ("mode", "symbol", "fee_model", "slippage_model", "max_position")} == {
        "mode": "forward",
        "symbol": "AAPL",
        "fee_model": "none",
        "slippage_model": "bps",
        "max_position": 500,
    }
    assert (shown["slippage_amount"], shown["max_daily_loss"], shown["flatten_on_stop"]) == (
        "1.5000",
        "2000.0000",
        False,
    )


@pytest.mark.parametrize(
    ("fields", "status", "code", "field"),
    [
        ({"resolution": "2"}, 400, "trading_session.invalid", "resolution"),
        ({"fee_model": "flat"}, 400, "trading_session.invalid", "fee_model"),
        ({"slippage_model": "ticks", "slippage_amount": "-2"}, 400, "trading_session.invalid", "slippage_model"),
        ({"max_position": "0"}, 400, "trading_session.invalid", "max_position"),
        ({"max_daily_loss": "-1"}, 400, "trading_session.invalid", "max_daily_loss"),
        ({"starting_equity": None}, 400, "trading_session.invalid", "starting_equity"),
        ({"mode": "broker"}, 409, "trading_session.version_not_approved", None),
        ({"symbol": "NOSUCH"}, 400, "instrument.unknown", "instrument"),
        ({"account": "DU9999999"}, 403, "account.not_member", "account"),
    ],
)
def test_a_refused_session_is_a_problem_with_the_services_code(
    api_client, admin_user, account, instrument, ema_version, fields, status, code, field
):
    api_client.force_authenticate(admin_user)
    response = api_client.post(LIST_URL, body(ema_version, **fields), format="json")
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert (response.json()["code"], response.json().get("field")) == (code, field)
    assert not TradingSession.objects.exists()


def test_a_broker_session_of_an_approved_version_opens(
    api_client, admin_user, risk_manager, account, instrument, ema_version
):
    strategy_version_approve(actor=risk_manager, version=ema_version, via="test")
    api_client.force_authenticate(admin_user)
    response = api_client.post(LIST_URL, body(ema_version, mode="broker", starting_equity=None), format="json")
    assert response.status_code == 201, response.content
    assert TradingSession.objects.get().mode == "broker"


def test_a_trader_may_not_open_a_session(api_client, trader, account, instrument, ema_version):
    api_client.force_authenticate(trader)
    response = api_client.post(LIST_URL, body(ema_version), format="json")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")


def test_pause_and_stop_keep_their_reason_and_stop_its_flatten(api_client, trader, account):
    session = TradingSessionFactory(strategy=StrategyFactory(name="pairs"), account=account, status="running")
    api_client.force_authenticate(trader)
    paused = control(api_client, session, "pause", {"reason": "News at 2pm"})
    assert paused.status_code == 200
    session.refresh_from_db()
    assert (session.status, session.status_reason) == ("paused", "News at 2pm")
    stopped = control(api_client, session, "stop", {"reason": "Done", "flatten": True})
    assert stopped.status_code == 200
    session.refresh_from_db()
    assert (session.status, session.status_reason, session.flatten_on_stop) == ("stopped", "Done", True)


def test_a_reason_too_long_is_refused_with_the_services_code(api_client, trader, account):
    session = TradingSessionFactory(account=account, status="running")
    api_client.force_authenticate(trader)
    response = control(api_client, session, "stop", {"reason": "x" * 201})
    assert (response.status_code, response.json()["code"], response.json()["field"]) == (
        400,
        "trading_session.invalid",
        "reason",
    )
    session.refresh_from_db()
    assert session.status == "running"
