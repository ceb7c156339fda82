"""A trading session's page in Debian's Chromium against daphne: its equity chart (lightweight-charts) grows live
as the session's bars are recorded, with no reload.

The bars are recorded here, in the test process, through ``session_equity_record`` (what the
runner does after each closed bar): its announcement reaches the page by the one route, the
session's row, whose equity and bar time the chart appends. These tests fail (never skip) when
Chromium is missing: ``make test`` installs it with apt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from orders.models import Instrument
from strategies.models import SessionDecision, SessionEquityPoint, SessionFill, TradingSession
from strategies.services import strategy_version_save
from strategies.services.session_figures import session_equity_record
from strategies.session_metrics import RunningFigures
from strategies.tests.factories import StrategyFactory, TradingSessionFactory, template_graph
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BAR = 1_773_154_800  # 2026-03-10 15:00 UTC
MINUTE = 60
START = 100_000.0


class Bars:
    """A forward-test session on AAPL one-minute bars, and its bars recorded as the runner records them."""

    def __init__(self, account) -> None:
        strategy = StrategyFactory(name="Crossing")
        version = strategy_version_save(actor=None, strategy=strategy, graph=template_graph("ema_crossover"), via="t")
        self.session = TradingSessionFactory(
            strategy=strategy, account=account, version=version, instrument=Instrument.objects.get(symbol="AAPL"),
            status=TradingSession.Status.RUNNING, starting_equity=Decimal(START), resolution="1",
        )  # fmt: skip
        self.figures = RunningFigures(START, MINUTE)
        self.next_bar = BAR

    def record(self, equity: float) -> None:
        self.figures.on_bar(equity, open_pnl=equity - START)
        session_equity_record(
            session_id=self.session.pk, bar_time=self.next_bar, equity=equity, figures=self.figures.snapshot()
        )
        self.next_bar += MINUTE

    def decide_and_fill(self) -> None:
        """The decision the strategy took on the next bar and its fill, as the runner writes them (no announcement)."""
        decision = SessionDecision.objects.create(
            session=self.session, bar_time=self.next_bar, action="buy", node="buy1", outcome="filled",
            quantity=Decimal(10), values={"cross": {"result": True}},
        )  # fmt: skip
        SessionFill.objects.create(
            session=self.session, decision=decision, time=datetime.fromtimestamp(self.next_bar + MINUTE, tz=UTC),
            side="BUY", quantity=10, price=Decimal("101.30"), fee=Decimal("1.00"), reason="entry",
        )  # fmt: skip

    def store_unannounced(self, equity: float) -> None:
        """A bar whose row the page never receives (as when a busy socket merges two of its rows)."""
        self.figures.on_bar(equity, open_pnl=equity - START)
        SessionEquityPoint.objects.create(session=self.session, bar_time=self.next_bar, equity=Decimal(equity))
        self.next_bar += MINUTE


def _chart(page) -> dict:
    return page.evaluate("window.sessionChart")


def test_a_sessions_equity_chart_grows_live_as_its_bars_are_recorded(desk, redis_client, browser, tmp_path):
    bars = in_db(lambda: Bars(desk["account"]))
    for equity in (100_000.0, 100_120.0, 99_950.0):
        in_db(lambda equity=equity: bars.record(equity))
    session_id = bars.session.pk
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "viewer", "/live/sessions/")
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # From the sessions page, the session's name leads to its page.
        page.locator(f"#session-{session_id} th a").click()
        page.wait_for_url(f"{stack.url}/live/sessions/{session_id}/")
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        expect(page.locator("#session-equity canvas").first).to_be_visible(timeout=10_000)
        assert _chart(page)["points"] == 3
        assert _chart(page)["last"] == {"time": BAR + 2 * MINUTE, "equity": 99_950.0}
        page.evaluate("window.__notReloaded = true")

        # The runner records a bar's decision and fill with its equity: the page reads them again.
        expect(page.locator("#session-decisions")).to_contain_text("No decisions yet.")
        in_db(lambda: bars.decide_and_fill())
        in_db(lambda: bars.record(100_300.5))

        page.wait_for_function("window.sessionChart.points === 4", timeout=5_000)
        assert _chart(page)["last"] == {"time": BAR + 3 * MINUTE, "equity": 100_300.5}
        row = page.locator(f"#session-{session_id}")
        expect(row.locator(".session-equity")).to_have_text("100,300.50")
        expect(row).to_have_attribute("data-bar-time", str(BAR + 3 * MINUTE))
        expect(page.locator("#session-decisions tr.decision")).to_have_count(1, timeout=5_000)
        expect(page.locator("#session-decisions")).to_contain_text("cross.result = true")
        expect(page.locator("#session-fills tr.fill")).to_contain_text("101.30")

        # A bar the page heard nothing of: the next row's bar is two bars on, and the chart reads the one between.
        in_db(lambda: bars.store_unannounced(100_200.0))
        in_db(lambda: bars.record(100_410.0))

        page.wait_for_function("window.sessionChart.points === 6", timeout=5_000)
        chart = _chart(page)
        assert chart["last"] == {"time": BAR + 5 * MINUTE, "equity": 100_410.0}
        assert chart["backfills"] == 1
        drawdown = page.locator(f"#session-{session_id} .session-drawdown")
        expect(drawdown).to_have_text("170.00")  # 100,120 -> 99,950
        expect(page.locator("#session-summary")).to_contain_text("peak PnL 410.00", timeout=5_000)
        assert page.evaluate("window.__notReloaded") is True
        assert page.evaluate("window.liveStats.resyncs") == 0
        assert errors == []
        context.close()
