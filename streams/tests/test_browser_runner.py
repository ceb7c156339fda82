"""A forward test opened and started in the admin, run by the strategy runner process, watched on its page in
Debian's Chromium against daphne: the equity chart grows as closed bars arrive, with no reload.

Everything between a closed bar and the page is real: the bar stored in PostgreSQL and put on the
closed-bar stream (as the bar loop does), the runner process deciding and recording it, its
announcement published as the session's row and carried to the page by the bridge's socket. The
bars are made around the real clock (the runner is a subprocess: ``runner_process.Bars``). These
tests fail (never skip) when Chromium is missing: ``make test`` installs it with apt.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from accounts.models import Role
from marketdata.tests.stored_bars import store_history_bars
from orders.models import Instrument
from strategies.models import SessionEquityPoint, TradingSession
from strategies.services import strategy_version_save
from strategies.tests.factories import StrategyFactory
from strategies.tests.runner_helpers import send_closed
from strategies.tests.runner_process import EVERY_BAR, Bars, Runners, wait_for
from streams.tests.harness import browser_user, in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _opener_and_strategy(account, bars: Bars) -> None:
    """A Trader who may also open sessions; a strategy deciding on every bar; AAPL's bars before now."""
    opener = browser_user("opener", [Role.TRADER], [account])
    opener.user_permissions.add(Permission.objects.get(codename="add_tradingsession"))
    strategy_version_save(actor=None, strategy=StrategyFactory(name="Every bar"), graph=EVERY_BAR, via="test")
    store_history_bars(Instrument.objects.get(symbol="AAPL"), bars.warm)


def _points(session_id: int) -> list[tuple[int, float]]:
    return [
        (t, float(e))
        for t, e in SessionEquityPoint.objects.filter(session_id=session_id)
        .order_by("bar_time")
        .values_list("bar_time", "equity")
    ]


def test_a_forward_test_started_in_the_admin_is_run_by_the_runner_and_its_chart_grows_live(
    desk, redis_client, browser, tmp_path
):
    bars = Bars()
    account = desk["account"]
    in_db(lambda: _opener_and_strategy(account, bars))
    aapl = in_db(lambda: Instrument.objects.get(symbol="AAPL"))
    runners = Runners(tmp_path)
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        try:
            made = in_db(lambda: runners.start("runner"))
            context, page = log_in(browser, stack, "opener", "/admin/strategies/tradingsession/add/")
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))

            # Opened in the admin's add form: a forward test of AAPL's one-minute bars with its paper equity.
            page.select_option("#id_strategy", label="Every bar")
            page.select_option("#id_version", label="Every bar v1")
            page.select_option("#id_account", str(account.pk))
            page.select_option("#id_instrument", label="AAPL")
            page.select_option("#id_mode", "forward")
            page.select_option("#id_resolution", "1")
            page.fill("#id_starting_equity", "100000")
            page.click("input[name=_save]")
            page.wait_for_url(f"{stack.url}/admin/strategies/tradingsession/**")
            session = in_db(lambda: TradingSession.objects.get())
            assert session.status == TradingSession.Status.PENDING, page.inner_text("body")[:2000]

            # Started with the changelist's Start action.
            page.goto(f"{stack.url}/admin/strategies/tradingsession/")
            page.check(f"input[name=_selected_action][value='{session.pk}']")
            page.select_option("select[name=action]", "start_sessions")
            page.click("button[name=index]")
            expect(page.locator(".messagelist")).to_contain_text("1 session(s) started.")
            assert in_db(lambda: TradingSession.objects.get().status) == TradingSession.Status.RUNNING
            in_db(lambda: wait_for(lambda: made.holds(session.pk), 30, "the runner to hold the session", runners))

            page.goto(f"{stack.url}/live/sessions/{session.pk}/")
            expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
            expect(page.locator("#session-equity canvas").first).to_be_visible(timeout=10_000)
            assert page.evaluate("window.sessionChart.points") == 0
            page.evaluate("window.__notReloaded = true")

            for n in range(1, 5):
                in_db(lambda: send_closed(redis_client, aapl, bars.next()))
                try:
                    page.wait_for_function(f"window.sessionChart.points === {n}", timeout=20_000)
                except Exception:
                    recorded = in_db(lambda: _points(session.pk))
                    pytest.fail(
                        f"the chart never showed bar {n}: {page.evaluate('window.sessionChart')}, recorded {recorded}"
                        f"\n{runners.logs_text()}\n{stack.log('bridge')}\n{stack.log('web')}"
                    )
                points = in_db(lambda: _points(session.pk))
                assert [t for t, _ in points] == [b.time for b in bars.sent]
                chart = page.evaluate("window.sessionChart")
                assert chart["last"] == {"time": points[-1][0], "equity": pytest.approx(points[-1][1])}
            # The strategy traded: the curve moved off the starting equity.
            assert {e for _, e in points} != {100_000.0}
            row = page.locator(f"#session-{session.pk}")
            expect(row).to_have_attribute("data-bar-time", str(bars.sent[-1].time))
            expect(row.locator(".session-equity")).to_have_text(f"{Decimal(repr(points[-1][1])):,.2f}")
            assert page.evaluate("window.__notReloaded") is True
            assert errors == []
            context.close()
        finally:
            runners.stop_all()
