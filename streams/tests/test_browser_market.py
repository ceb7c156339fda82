"""The Market page in Debian's Chromium over the whole desk: the chart updates live from the bar builder,
and an order placed from the ticket fills and appears on the chart as a fill marker, without a reload.

The bar builder builds bars only inside the regular session (09:30-16:00 New York on exchange
days), so the desk's processes (simulator, worker, bar builder, bridge, daphne) run on a clock
moved to 40 minutes after the next regular session's open, with the LD_PRELOAD shim of
scripts/suite-at.sh (``Stack(clock_offset=)``): the real bar builder builds real bars from the
simulator's ticks on any day the test runs, and nothing is written to Redis by hand. PostgreSQL,
Redis, Chromium and this process keep the real clock; the page takes "now" from the server, never
from the browser. These tests fail (never skip) when Chromium or a C compiler is missing.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from marketdata import sessions
from orders.models import Order
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
# One-minute bars are the page's default (a second query parameter would need escaping in login's ?next=).
CHART = "/live/market/chart/?symbol=AAPL"


def _next_session_minute(after: float) -> int:
    """40 minutes after the open of the first XNYS session that opens after ``after`` (epoch seconds)."""
    calendar = sessions.calendar("XNYS")
    day = datetime.fromtimestamp(after, tz=calendar.tz).date()
    for _ in range(15):
        session = calendar.on(day)
        if session is not None and session.open > after:
            return session.open + 40 * 60
        day += timedelta(days=1)
    raise AssertionError("no XNYS session in the next two weeks")


def _readme_picture(page, session_open: int) -> None:
    """docs/market.png (``make screenshot``): once the marketdata process has backfilled a few hundred
    one-minute bars from the simulator's history, today's session's among them (a few minutes at
    most: IB's pacing), the page reloaded."""
    from marketdata.models import Bar

    bars = Bar.objects.filter(instrument__symbol="AAPL", resolution="1")
    today = bars.filter(start__gte=datetime.fromtimestamp(session_open, tz=UTC))
    deadline = time.monotonic() + 400
    while in_db(bars.count) < 300 or in_db(today.count) < 30:
        assert time.monotonic() < deadline, "the history backfill did not reach today's one-minute bars"
        time.sleep(5)
    page.reload()
    page.wait_for_function("window.marketChart.bars >= 300 && window.marketChart.marks >= 1", timeout=30_000)
    expect(page.locator("#market-quote")).not_to_have_text("", timeout=15_000)
    # The chart draws on the next animation frames: give the marker a moment before the picture.
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ROOT / "docs" / "market.png"), full_page=True)


def _stack_logs(stack) -> str:
    return "\n".join(f"--- {name}:\n{stack.log(name)}" for name in ("marketdata", "execution", "bridge", "web"))


def test_the_chart_updates_live_and_an_order_from_the_ticket_appears_on_it_as_a_fill(
    desk, redis_client, browser, tmp_path
):
    at = _next_session_minute(time.time())
    offset = at - int(time.time())
    with running_stack(
        tmp_path, accounts="DU0000001", instruments="AAPL=100", with_marketdata=True, clock_offset=offset
    ) as stack:
        context, page = log_in(browser, stack, "trader", CHART)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        expect(page.locator("#live-status")).to_have_text("live", timeout=15_000)
        page.evaluate("window.__notReloaded = true")

        # Live: bars.update frames from the bar builder move the chart (its forming bar, then new ones).
        try:
            page.wait_for_function("window.marketChart.updates >= 3 && window.marketChart.bars > 0", timeout=60_000)
        except Exception:
            pytest.fail(f"no live bars on the chart: {page.evaluate('window.marketChart')}\n{_stack_logs(stack)}")
        first = page.evaluate("window.marketChart.updates")
        page.wait_for_function(f"window.marketChart.updates > {first}", timeout=30_000)

        # The ticket's limit price comes from the live quote; a price 1% through it is marketable.
        limit = page.locator("#id_limit_price")
        expect(limit).not_to_have_value("", timeout=15_000)
        price = round(float(limit.input_value()) * 1.01, 2)
        page.check("#ticket-side-buy")
        page.fill("#id_quantity", "5")
        limit.fill(f"{price:.2f}")
        expect(page.locator("#ticket-notional")).to_have_text(f"{5 * price:,.2f}")
        expect(page.locator("#id_stop_price")).to_be_hidden()
        page.click("#ticket-submit")
        expect(page.locator("#ticket-entered")).to_be_visible(timeout=10_000)
        [order] = in_db(lambda: list(Order.objects.all()))

        # The same order again at once (within the account's duplicate window): the duplicate guard's
        # confirmation step, as in the admin; nothing is placed.
        page.click("#ticket-submit")
        expect(page.locator("#duplicate-confirmation")).to_contain_text(str(order.client_order_id), timeout=10_000)
        assert in_db(Order.objects.count) == 1

        # Its fill reaches the chart as a marker (the order's live row makes the page reload its marks).
        try:
            page.wait_for_function(
                "window.marketChart.markTexts.some((t) => t.startsWith('Bought 5 AAPL'))", timeout=45_000
            )
        except Exception:
            in_db(order.refresh_from_db)
            pytest.fail(f"no fill marker; order {order.status} {order.reject_code}\n{_stack_logs(stack)}")
        assert page.evaluate("window.__notReloaded") is True
        if os.environ.get("TC_UPDATE_SCREENSHOTS") == "1":
            _readme_picture(page, session_open=at - 40 * 60)
        else:
            shot = tmp_path / "market.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000

        assert errors == []
        context.close()
