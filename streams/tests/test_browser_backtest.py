"""A backtest's admin page in Debian's Chromium against daphne: the equity curve drawn by uPlot and the
trades as markers on the price chart drawn by lightweight-charts, from the vendored scripts.

These tests fail (never skip) when Chromium is missing: ``make test`` installs it with apt.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from marketdata.tests.stored_bars import store_history_bars
from orders.models import Instrument
from strategies.engine.tests.helpers import template, walk_bars
from strategies.services import strategy_version_save
from strategies.services.backtest_run import backtest_execute
from strategies.services.backtests import backtest_request
from strategies.tests.factories import StrategyFactory
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _done_backtest() -> int:
    store_history_bars(Instrument.objects.get(symbol="AAPL"), walk_bars(1200, seed=19))
    version = strategy_version_save(actor=None, strategy=StrategyFactory(), graph=template("ema_crossover"), via="t")
    backtest = backtest_request(
        actor=None, version=version, symbols=["AAPL"], resolution="1", start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2026, 4, 1, tzinfo=UTC), starting_cash=Decimal("100000"), via="t",
    )  # fmt: skip
    assert backtest_execute(backtest_id=backtest.pk) == "done"
    return backtest.pk


def test_a_backtests_page_draws_its_equity_curve_and_its_trades_on_the_price_chart(
    desk, redis_client, browser, tmp_path
):
    backtest_id = in_db(_done_backtest)
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", f"/admin/strategies/backtest/{backtest_id}/change/")
        # Loaded again with a listener: a script error on the page fails the test.
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.reload()
        expect(page.locator("#backtest-equity .uplot canvas")).to_be_visible(timeout=10_000)
        expect(page.locator("#backtest-prices canvas").first).to_be_visible(timeout=10_000)
        expect(page.get_by_text("Sharpe (annualised)")).to_be_visible()
        assert errors == []
        context.close()
