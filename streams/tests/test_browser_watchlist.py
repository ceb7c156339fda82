"""Market watch's watchlist in Debian's Chromium against daphne: search, add, a refusal with its code,
remove, and a row that opens its chart. No broker runs: a symbol the desk knows is added without
one, and one it does not know is refused as the broker's outage, with its stable code.

These tests fail (never skip) when Chromium is missing: ``make test`` installs it with apt.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from marketdata.models import WatchlistEntry
from orders.tests.factories import InstrumentFactory
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _watched() -> list[str]:
    return in_db(lambda: list(WatchlistEntry.objects.values_list("instrument__symbol", flat=True)))


def test_a_trader_searches_adds_removes_and_charts_symbols_of_the_watchlist(desk, redis_client, browser, tmp_path):
    in_db(lambda: InstrumentFactory(symbol="MSFT", con_id=272093, description="Microsoft"))
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", "/live/market/")
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)

        page.fill("#watch-search", "MSF")
        page.locator(".watch-result[data-symbol=MSFT]").click(timeout=10_000)
        expect(page.locator(".watch-symbols li[data-symbol=MSFT]")).to_be_visible(timeout=10_000)
        expect(page.locator("#quote-MSFT")).to_be_visible()
        assert _watched() == ["MSFT"]

        # A symbol the desk does not know needs the broker's contract details; none answers here.
        page.fill("#watch-search", "ZZZQ")
        page.click("#watch-add button[type=submit]")
        expect(page.locator("#watch-error")).to_contain_text("(marketdata.broker_unavailable)", timeout=30_000)
        assert _watched() == ["MSFT"]

        page.click("#quote-MSFT")
        page.wait_for_url(f"{stack.url}/live/market/chart/?symbol=MSFT", timeout=10_000)
        expect(page.locator("#market-chart")).to_have_attribute("data-symbol", "MSFT")

        page.goto(f"{stack.url}/live/market/")
        page.click(".watch-remove[data-symbol=MSFT]")
        expect(page.locator(".watch-symbols li[data-symbol=MSFT]")).to_have_count(0, timeout=10_000)
        assert _watched() == []
        context.close()
