"""A trading session's page and row: its figures, equity chart points, decisions and fills, for members only."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import transaction

from orders.tests.factories import OrderFactory
from strategies.models import SessionDecision, SessionEquityPoint, SessionFill, TradingSession
from strategies.services import strategy_version_save
from strategies.services.session_figures import session_equity_record
from strategies.session_metrics import figures
from strategies.tests.factories import StrategyFactory, TradingSessionFactory, template_graph
from streams import live, rows
from streams.tests.harness import commit, receive_from_group

# The data carries dates: the clock is pinned to their day (time_machine.travel, by the root conftest's
# clock marker), so the test means the same on any day.
pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-03-10T16:00:00+00:00")]

BAR = 1_773_154_800  # 2026-03-10 15:00 UTC, a bar's start


@pytest.fixture
def session(account, instrument):
    strategy = StrategyFactory(name="Crossing")
    version = strategy_version_save(actor=None, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
    return TradingSessionFactory(
        strategy=strategy, account=account, version=version, instrument=instrument, mode="forward",
        status=TradingSession.Status.PAUSED, status_reason="market_data_stale", starting_equity=Decimal("100000"),
        equity=Decimal("100250.5"), realized_pnl=Decimal("300"), unrealized_pnl=Decimal("-49.5"),
        max_drawdown=Decimal("120.25"), trade_count=3, win_count=2, sharpe=1.2345, last_bar_time=BAR + 120,
    )  # fmt: skip


def _cells(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_sessions_row_carries_its_equity_and_last_bar_for_the_chart_and_shows_its_figures(session):
    ctx = rows.session_row(session)["ctx"]

    assert (ctx["equity_value"], ctx["last_bar_time"]) == ("100250.5", BAR + 120)
    assert (ctx["mode"], ctx["symbol"], ctx["version"]) == ("forward", session.instrument.symbol, "v1")
    assert (ctx["equity"], ctx["win_rate"], ctx["sharpe"]) == ("100,250.50", "66.7 %", "1.23")
    assert ctx["status_reason"] == "market_data_stale"


def test_the_sessions_page_row_shows_mode_symbol_version_figures_and_links_to_the_sessions_page(
    client, viewer, session, redis_client
):
    client.force_login(viewer)
    body = client.get("/live/sessions/").content.decode()
    row = re.search(rf'<tr id="session-{session.pk}".*?</tr>', body, re.S).group(0)

    assert 'data-equity="100250.5"' in row and f'data-bar-time="{BAR + 120}"' in row
    assert f'href="/live/sessions/{session.pk}/"' in row
    text = _cells(row)
    for shown in ("Forward", session.instrument.symbol, "v1", "market_data_stale", "100,250.50", "300.00",
                  "-49.50", "120.25", "66.7 %", "1.23", "03-10 11:02"):  # fmt: skip
        assert shown in text, shown


def test_a_member_sees_the_sessions_page_with_its_figures_chart_decisions_and_fills(
    client, viewer, session, instrument, redis_client
):
    for i, equity in enumerate(["100000", "100100", "100250.5"]):
        SessionEquityPoint.objects.create(session=session, bar_time=BAR + 60 * i, equity=Decimal(equity))
    order = OrderFactory(account=session.account, instrument=instrument)
    SessionDecision.objects.create(
        session=session, bar_time=BAR + 60, action="buy", node="buy1", outcome="placed", quantity=Decimal("10"),
        order=order, values={"cross": {"result": True}, "fast": {"value": 101.25}},
    )  # fmt: skip
    SessionFill.objects.create(
        session=session, time=datetime(2026, 3, 10, 15, 2, tzinfo=UTC), side="BUY", quantity=10,
        price=Decimal("101.3"), fee=Decimal("1"), reason="entry",
    )  # fmt: skip
    client.force_login(viewer)

    response = client.get(f"/live/sessions/{session.pk}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert f'id="session-{session.pk}"' in body and 'id="session-equity"' in body
    assert "lightweight-charts.standalone.production.js" in body and "streams/session_chart.js" in body
    assert "/ws/live/?page=session&amp;account=" in body or "/ws/live/?page=session&account=" in body
    curve = json.loads(re.search(r'<script id="session-curve" type="application/json">(.*?)</script>', body).group(1))
    assert curve == {"time": [BAR, BAR + 60, BAR + 120], "equity": [100000.0, 100100.0, 100250.5], "start": 100000.0}
    decisions = _cells(re.search(r'<table class="live-table" id="session-decisions">.*?</table>', body, re.S).group(0))
    assert "buy1" in decisions and "Order placed at the broker" in decisions
    assert "cross.result = true" in decisions and "fast.value = 101.25" in decisions
    assert f"/admin/orders/order/{order.pk}/change/" in body
    fills = _cells(re.search(r'<table class="live-table" id="session-fills">.*?</table>', body, re.S).group(0))
    assert "BUY" in fills and "101.30" in fills and "entry" in fills


def test_the_session_page_joins_only_the_sessions_account_group(client, session, other_account, redis_client):
    from accounts.models import Role
    from accounts.tests.factories import UserFactory
    from streams import live

    both = UserFactory(username="both", roles=[Role.VIEWER], accounts=[session.account, other_account])
    client.force_login(both)
    response = client.get(f"/live/sessions/{session.pk}/")

    # The user's own groups (its notices, the toasts, name any of its accounts) and the session's account's.
    assert set(json.loads(response.context["live_cursor"])) == {
        live.user_group(both.pk),
        live.notice_group(both.pk),
        live.account_group(session.account_id),
    }
    assert f"account={session.account_id}" in response.context["live_ws"]


def test_a_session_on_another_account_is_not_found_and_an_anonymous_visitor_is_asked_to_log_in(
    client, viewer, other_account, redis_client
):
    theirs = TradingSessionFactory(account=other_account)
    client.force_login(viewer)
    assert client.get(f"/live/sessions/{theirs.pk}/").status_code == 404
    client.logout()
    response = client.get(f"/live/sessions/{theirs.pk}/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_recent_part_is_the_figures_decisions_and_fills_alone_and_for_members_only(
    client, viewer, session, other_account, redis_client
):
    SessionDecision.objects.create(session=session, bar_time=BAR, action="sell", node="sell1", outcome="refused")
    client.force_login(viewer)

    body = client.get(f"/live/sessions/{session.pk}/?part=recent").content.decode()

    assert 'id="session-decisions"' in body and 'id="session-fills"' in body and "sell1" in body
    assert 'id="session-summary"' in body and "Starting equity 100,000.00" in body
    assert "live-root" not in body and "session-curve" not in body
    theirs = TradingSessionFactory(account=other_account)
    assert client.get(f"/live/sessions/{theirs.pk}/?part=recent").status_code == 404


def test_a_session_without_any_bar_yet_says_so(client, viewer, account, redis_client):
    fresh = TradingSessionFactory(account=account)
    client.force_login(viewer)
    body = client.get(f"/live/sessions/{fresh.pk}/").content.decode()
    assert "No closed bar yet." in body and "No decisions yet." in body


def test_a_bar_recorded_sends_the_sessions_row_with_its_equity_and_bar_to_its_accounts_pages(session, redis_client):
    got = figures(1000.0, [1012.5], [12.5], 0.0, 60)

    def record():
        with transaction.atomic():
            session_equity_record(session_id=session.pk, bar_time=BAR + 180, equity=1012.5, figures=got)
        commit()

    message = receive_from_group(live.account_group(session.account_id), record)

    (row,) = [r for r in message["rows"] if r["kind"] == "session"]
    assert row["id"] == f"session-{session.pk}"
    assert (row["ctx"]["equity_value"], row["ctx"]["last_bar_time"]) == ("1012.5", BAR + 180)


def test_the_session_pages_socket_is_refused_for_another_account_and_carries_the_sessions_row(
    redis_client, viewer, session, other_account
):
    from streams.consumers import CLOSE_FORBIDDEN
    from streams.tests.test_consumers import ORIGIN, _communicator, _cookie_for, _hello, _send, run

    _, cookie = _cookie_for(viewer)
    row = rows.session_row(session)

    async def scenario():
        refused = _communicator(f"/ws/live/?page=session&account={other_account.pk}", [ORIGIN, cookie])
        assert await refused.connect(timeout=3) == (False, CLOSE_FORBIDDEN)
        communicator = _communicator(f"/ws/live/?page=session&account={session.account_id}", [ORIGIN, cookie])
        assert (await communicator.connect(timeout=3))[0]
        assert (await _hello(communicator))["t"] == "ready"
        await _send(live.account_group(session.account_id), row)
        frame = await communicator.receive_json_from(timeout=3)
        (sent,) = frame["rows"]
        assert sent["id"] == f"session-{session.pk}"
        assert 'data-equity="100250.5"' in sent["html"] and f'data-bar-time="{BAR + 120}"' in sent["html"]
        await communicator.disconnect()

    run(scenario)
