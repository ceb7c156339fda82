"""The API of a session's figures, equity curve, decisions and fills: shapes, ``since``, paging and account scoping."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from orders.tests.factories import OrderFactory
from strategies.models import SessionDecision, SessionEquityPoint, SessionFill, TradingSession
from strategies.services import strategy_version_save
from strategies.tests.factories import StrategyFactory, TradingSessionFactory, template_graph

# The data carries dates: the clock is pinned to their day (time_machine.travel, by the root conftest's
# clock marker), so the test means the same on any day.
pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-03-10T16:00:00+00:00")]

BAR = 1_773_154_800


@pytest.fixture
def session(account, instrument):
    strategy = StrategyFactory(name="Crossing")
    version = strategy_version_save(actor=None, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    return TradingSessionFactory(
        strategy=strategy, account=account, version=version, instrument=instrument, mode="forward", resolution="5",
        status=TradingSession.Status.RUNNING, starting_equity=Decimal("1000"), equity=Decimal("1030"),
        realized_pnl=Decimal("35"), unrealized_pnl=Decimal("-5"), max_drawdown=Decimal("20"), peak_pnl=Decimal("30"),
        trade_count=3, win_count=2, sharpe=1.5, last_bar_time=BAR + 300, status_reason="",
    )  # fmt: skip


def _get(api_client, user, name: str, pk: int, **params):
    api_client.force_authenticate(user)
    return api_client.get(reverse(f"api-v1:{name}", kwargs={"pk": pk}), params)


def test_a_session_read_through_the_api_has_what_it_runs_and_its_figures(api_client, viewer, session, instrument):
    body = _get(api_client, viewer, "trading-session-detail", session.pk).json()

    assert {k: body[k] for k in ("mode", "version_number", "symbol", "resolution", "status_reason")} == {
        "mode": "forward",
        "version_number": 1,
        "symbol": instrument.symbol,
        "resolution": "5",
        "status_reason": "",
    }
    assert body["version"] == session.version_id
    assert (body["equity"], body["realized_pnl"], body["unrealized_pnl"]) == ("1030.0000", "35.0000", "-5.0000")
    assert (body["max_drawdown"], body["peak_pnl"], body["trade_count"], body["win_count"]) == (
        "20.0000",
        "30.0000",
        3,
        2,
    )
    assert body["win_rate"] == pytest.approx(2 / 3)
    assert (body["sharpe"], body["last_bar_time"]) == (1.5, BAR + 300)


def test_a_session_without_trades_has_no_win_rate(api_client, viewer, account):
    fresh = TradingSessionFactory(account=account, version=None, instrument=None)
    body = _get(api_client, viewer, "trading-session-detail", fresh.pk).json()
    assert (body["win_rate"], body["sharpe"], body["equity"], body["symbol"], body["version"]) == (
        None,
        None,
        None,
        None,
        None,
    )


def test_the_equity_curve_is_oldest_first_and_since_gives_the_bars_after_it(api_client, viewer, session):
    for i, equity in enumerate(["1000", "1010", "990.5"]):
        SessionEquityPoint.objects.create(session=session, bar_time=BAR + 300 * i, equity=Decimal(equity))
    SessionEquityPoint.objects.create(session=TradingSessionFactory(account=session.account), bar_time=BAR, equity=1)

    whole = _get(api_client, viewer, "trading-session-equity", session.pk)
    after = _get(api_client, viewer, "trading-session-equity", session.pk, since=BAR + 300)

    assert whole.status_code == 200
    assert whole.json() == [
        {"time": BAR, "equity": "1000.0000"},
        {"time": BAR + 300, "equity": "1010.0000"},
        {"time": BAR + 600, "equity": "990.5000"},
    ]
    assert after.json() == [{"time": BAR + 600, "equity": "990.5000"}]
    assert _get(api_client, viewer, "trading-session-equity", session.pk, since=BAR + 600).json() == []


@pytest.mark.parametrize("since", ["yesterday", "-1", "1.5"])
def test_a_malformed_since_is_a_400_problem(api_client, viewer, session, since):
    response = _get(api_client, viewer, "trading-session-equity", session.pk, since=since)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")


def test_decisions_are_paged_newest_first_with_their_values_and_order(api_client, viewer, session, instrument):
    order = OrderFactory(account=session.account, instrument=instrument)
    for i in range(3):
        SessionDecision.objects.create(
            session=session, bar_time=BAR + 300 * i, action="buy" if i % 2 == 0 else "sell", node=f"n{i}",
            outcome="placed" if i == 2 else "refused", order=order if i == 2 else None,
            values={"cross": {"result": True}, "bar": i}, error_code="" if i == 2 else "risk.max_position",
        )  # fmt: skip

    first = _get(api_client, viewer, "trading-session-decisions", session.pk, limit=2).json()
    rest = _get(api_client, viewer, "trading-session-decisions", session.pk, limit=2, offset=2).json()

    assert first["count"] == 3
    assert [d["bar_time"] for d in first["results"]] == [BAR + 600, BAR + 300]
    newest = first["results"][0]
    assert (newest["order"], newest["client_order_id"]) == (order.pk, str(order.client_order_id))
    assert newest["values"] == {"cross": {"result": True}, "bar": 2}
    assert (newest["action"], newest["outcome"], newest["node"]) == ("buy", "placed", "n2")
    assert [(d["bar_time"], d["order"], d["error_code"]) for d in rest["results"]] == [(BAR, None, "risk.max_position")]


def test_fills_are_paged_newest_first(api_client, viewer, session):
    for minute, side in ((1, "BUY"), (7, "SELL")):
        SessionFill.objects.create(
            session=session, time=datetime(2026, 3, 10, 15, minute, tzinfo=UTC), side=side, quantity=10,
            price=Decimal("101.25"), fee=Decimal("1"), reason="signal",
        )  # fmt: skip

    body = _get(api_client, viewer, "trading-session-fills", session.pk).json()

    assert body["count"] == 2
    assert [(f["side"], f["time"]) for f in body["results"]] == [
        ("SELL", "2026-03-10T11:07:00-04:00"),
        ("BUY", "2026-03-10T11:01:00-04:00"),
    ]
    assert {"quantity", "price", "fee", "reason", "decision"} <= body["results"][0].keys()


@pytest.mark.parametrize("name", ["trading-session-equity", "trading-session-decisions", "trading-session-fills"])
def test_a_session_on_another_account_is_not_found(api_client, viewer, other_account, name):
    theirs = TradingSessionFactory(account=other_account)
    SessionEquityPoint.objects.create(session=theirs, bar_time=BAR, equity=1)

    response = _get(api_client, viewer, name, theirs.pk)

    assert response.status_code == 404
    assert "application/problem+json" in response["Content-Type"]


@pytest.mark.parametrize("name", ["trading-session-equity", "trading-session-decisions", "trading-session-fills"])
def test_nothing_without_signing_in(api_client, session, name):
    assert api_client.get(reverse(f"api-v1:{name}", kwargs={"pk": session.pk})).status_code == 401
