"""One picture in Debian's Chromium: the desk's zone named on every page and used by the PnL chart's
axis, positions revalued as the market moves, the desk's day PnL.

The browser runs in Asia/Tokyo, far from the desk's America/New_York: a time drawn on the
browser's clock cannot pass for the desk's.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import expect

from execution_worker import messages as m
from orders.models import PnLPoint
from orders.tests.factories import PositionFactory
from streams import keys
from streams.tests.harness import in_db
from streams.tests.stack import running_stack
from tradeconsole.clock import desk_day_start

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BROWSER_ZONE = "Asia/Tokyo"


def _log_in(browser, stack, next_path: str):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id=BROWSER_ZONE)
    page = context.new_page()
    page.goto(f"{stack.url}/admin/login/?next={next_path}")
    page.fill("#id_username", "trader")
    page.fill("#id_password", "password")
    page.click("input[type=submit]")
    page.wait_for_url(f"{stack.url}{next_path}", timeout=15_000)
    return context, page


def _uplot_time(moment) -> str:
    """``moment`` in the desk's zone as uPlot's legend writes a time (``{YYYY}-{MM}-{DD} {h}:{mm}{aa}``)."""
    local = moment.astimezone(ZoneInfo(settings.TIME_ZONE))
    return f"{local:%Y-%m-%d} {local.hour % 12 or 12}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def _tick(client, **quote) -> None:
    client.xadd(keys.market_data_stream("AAPL"), m.encode(m.MarketData(symbol="AAPL", **quote)))


def test_the_positions_page_names_the_zone_draws_the_chart_in_it_and_revalues_at_the_market(
    desk,
    redis_client,
    browser,
    tmp_path,
):
    account = desk["account"]
    now = timezone.now().replace(second=0, microsecond=0)
    first = max(now - timedelta(minutes=3), desk_day_start(now) + timedelta(minutes=1))

    def make() -> int:
        for n, pnl in enumerate((Decimal("5"), Decimal("8"))):
            PnLPoint.objects.create(
                account=account, at=first + timedelta(minutes=n), realized_pnl=pnl, unrealized_pnl=Decimal("0")
            )
        return PositionFactory(
            account=account, instrument__symbol="AAPL", quantity=Decimal("10"), average_cost=Decimal("100")
        ).pk

    position = in_db(make)
    # The quote the desk has when the page opens (the market feed follows the stream from it).
    _tick(redis_client, bid=Decimal("100.9"), ask=Decimal("101.1"), last=Decimal("101"))
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = _log_in(browser, stack, "/live/positions/")
        expect(page.locator("#desk-clock")).to_have_text(f"Times in {settings.TIME_ZONE}")
        expect(page.locator("#live-status")).to_have_text("live", timeout=15_000)

        # The chart's time axis and legend are in the desk's zone, not the browser's.
        chart = page.locator(f'.live-chart[data-account="{account.pk}"]')
        over = chart.locator(".u-over")
        expect(over).to_be_visible(timeout=10_000)
        box = over.bounding_box()
        page.mouse.move(box["x"] + 1, box["y"] + box["height"] / 2)
        legend_time = chart.locator(".u-legend .u-series").first.locator(".u-value")
        expect(legend_time).to_have_text(_uplot_time(first))
        assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == BROWSER_ZONE

        # The market moves: the row is revalued at the new price without a reload.
        page.evaluate("window.__notReloaded = true")
        row = page.locator(f"#position-{position}")
        expect(row.locator(".last-price")).to_contain_text("101", timeout=20_000)
        _tick(redis_client, bid=Decimal("104.4"), ask=Decimal("104.6"), last=Decimal("104.5"))
        expect(row.locator(".last-price")).to_contain_text("104.5", timeout=20_000)
        expect(row.locator(".unrealized")).to_have_text("45.00")
        expect(row.locator(".market-value")).to_have_text("1,045.00")
        expect(row.locator(".price-stale")).to_have_count(0)
        assert page.evaluate("window.__notReloaded") is True
        context.close()


def test_the_desk_names_the_zone_and_shows_each_accounts_day_pnl_as_it_moves(
    desk,
    redis_client,
    browser,
    tmp_path,
):
    account = desk["account"]
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = _log_in(browser, stack, "/live/")
        expect(page.locator("#desk-clock")).to_have_text(f"Times in {settings.TIME_ZONE}")
        expect(page.locator("#live-status")).to_have_text("live", timeout=15_000)
        cell = page.locator(f"#account-{account.pk} .day-pnl")
        expect(cell).to_have_text("\u2013")  # no PnL point today yet: a dash

        # The monitoring loop stores a point: the desk shows the day's PnL without a reload.
        in_db(lambda: _store_point(account, realized=Decimal("12.5"), unrealized=Decimal("-20")))
        expect(cell).to_have_text("-7.50", timeout=20_000)
        expect(cell).to_have_class("num day-pnl neg")

        # The admin names the zone too.
        page.goto(f"{stack.url}/admin/")
        expect(page.locator("#desk-clock")).to_have_text(f"Times in {settings.TIME_ZONE}")
        context.close()


def _store_point(account, *, realized: Decimal, unrealized: Decimal) -> None:
    """Store a PnL point and announce it, as the monitoring loop's ``pnl_update`` does."""
    from django.db import transaction

    from accounts.announce import announce_object

    with transaction.atomic():
        point = PnLPoint.objects.create(
            account=account, at=timezone.now(), realized_pnl=realized, unrealized_pnl=unrealized
        )
        announce_object(point)
