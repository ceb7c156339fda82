"""The live pages in Debian's Chromium, against the whole desk started on loopback.

These tests fail (never skip) when Chromium is missing: ``make test`` installs it with apt.
"""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from orders.models import Order, OrderStatus
from streams.tests.harness import in_db, log_in
from streams.tests.stack import ROOT, running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(desk, tmp_path):
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100") as running:
        yield running


def test_an_order_entered_in_the_admin_reaches_filled_on_the_blotter_without_a_reload(stack, browser, desk, tmp_path):
    context, blotter = log_in(browser, stack, "trader", "/live/orders/")
    expect(blotter.locator("#live-status")).to_have_text("live", timeout=10_000)
    blotter.evaluate("window.__notReloaded = true")

    entry = context.new_page()
    entry.goto(f"{stack.url}/admin/orders/order/add/")
    entry.select_option("#id_account", str(desk["account"].pk))
    entry.select_option("#id_instrument", label="AAPL")
    entry.select_option("#id_side", "BUY")
    entry.fill("#id_quantity", "10")
    entry.select_option("#id_order_type", "LMT")
    entry.fill("#id_limit_price", "101")
    entry.click("input[name=_save]")
    order = in_db(Order.objects.get)

    row = blotter.locator(f"#order-{order.pk}")
    expect(row).to_be_visible(timeout=10_000)
    try:
        expect(row).to_have_attribute("data-status", OrderStatus.FILLED, timeout=30_000)
    except AssertionError:
        in_db(order.refresh_from_db)
        why = f"db: {order.status} {order.reject_code} {order.reject_reason}"
        pytest.fail(
            f"blotter row not FILLED ({why}); worker log:\n{stack.log('execution')}\nbridge log:\n{stack.log('bridge')}"
        )
    expect(row.locator(".filled")).to_have_text("10")
    assert blotter.evaluate("window.__notReloaded") is True

    # Kill the socket: the page reconnects, reloads its snapshot and is live again, still showing the fill.
    resyncs = blotter.evaluate("window.liveStats.resyncs")
    blotter.evaluate("window.liveSocket.close()")
    blotter.wait_for_function(f"window.liveStats.resyncs > {resyncs}", timeout=15_000)
    expect(blotter.locator("#live-status")).to_have_text("live", timeout=10_000)
    expect(blotter.locator(f"#order-{order.pk}")).to_have_attribute("data-status", OrderStatus.FILLED)
    assert blotter.evaluate("window.__notReloaded") is True

    desk_page = context.new_page()
    desk_page.goto(f"{stack.url}/live/")
    expect(desk_page.locator("#live-status")).to_have_text("live", timeout=10_000)
    expect(desk_page.locator("#gateway .badge")).to_have_text("ready", timeout=15_000)
    # The README's picture is refreshed only when asked (make screenshot), so a test run leaves
    # the tracked tree as it was.
    shot = ROOT / "docs" / "desk.png" if os.environ.get("TC_UPDATE_SCREENSHOTS") == "1" else tmp_path / "desk.png"
    desk_page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    context.close()


def test_a_viewer_sees_no_cancel_button_and_cannot_cancel(desk, redis_client, browser, tmp_path):
    from orders.tests.factories import OrderFactory

    order = in_db(
        lambda: OrderFactory(account=desk["account"], instrument__symbol="MSFT", status=OrderStatus.SUBMITTED)
    )
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, blotter = log_in(browser, stack, "viewer", "/live/orders/")
        row = blotter.locator(f"#order-{order.pk}")
        expect(row).to_be_visible(timeout=15_000)
        expect(row.locator(".live-cancel")).to_have_count(0)
        status = blotter.evaluate(
            """async (pk) => {
                 const token = document.cookie.split('; ').find(c => c.startsWith('csrftoken=')).split('=')[1];
                 const r = await fetch(`/live/orders/${pk}/cancel`, {method: 'POST', headers: {'X-CSRFToken': token}});
                 return r.status;
               }""",
            order.pk,
        )
        assert status == 403
        in_db(order.refresh_from_db)
        assert order.status == OrderStatus.SUBMITTED
        context.close()


def test_a_refused_cancel_is_shown_with_its_code_on_the_blotter(desk, redis_client, browser, tmp_path):
    from orders.tests.factories import OrderFactory

    filled, other = in_db(
        lambda: [
            OrderFactory(account=desk["account"], instrument__symbol="MSFT", status=OrderStatus.SUBMITTED)
            for _ in range(2)
        ]
    )
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, blotter = log_in(browser, stack, "trader", "/live/orders/")
        blotter.on("dialog", lambda dialog: dialog.accept())
        row = blotter.locator(f"#order-{filled.pk}")
        expect(row.locator(".live-cancel")).to_be_visible(timeout=15_000)
        # The order fills before the click reaches the desk: the cancel is refused (409).
        in_db(lambda: Order.objects.filter(pk=filled.pk).update(status=OrderStatus.FILLED))

        row.locator(".live-cancel").click()

        message = blotter.locator("#live-messages li.error").first
        expect(message).to_contain_text("(order.not_cancellable)", timeout=10_000)
        expect(row).to_have_class(re.compile(r"\blive-refused\b"))

        # A stale CSRF token (Django's own 403 page, not a problem) is said too.
        blotter.evaluate(
            """document.querySelector("[hx-headers]").setAttribute("hx-headers", '{"X-CSRFToken": "stale"}')"""
        )
        blotter.locator(f"#order-{other.pk} .live-cancel").click()

        expect(message).to_contain_text("Refused (403)", timeout=10_000)
        in_db(other.refresh_from_db)
        assert other.status == OrderStatus.SUBMITTED
        context.close()


def test_the_desk_badges_say_halted_while_the_kill_switch_is_engaged_without_a_reload(
    desk, redis_client, browser, tmp_path
):
    from accounts.services import kill_switch_engage, kill_switch_release

    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", "/live/")
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        page.evaluate("window.__notReloaded = true")
        badge = page.locator(f"#account-{desk['account'].pk} .badge")
        expect(badge).to_have_text("trading")

        in_db(lambda: kill_switch_engage(actor=None, reason="Fat finger", via="admin"))
        expect(badge).to_have_text("halted", timeout=15_000)
        expect(page.locator("#kill-switch .badge")).to_have_text("engaged", timeout=15_000)

        in_db(lambda: kill_switch_release(actor=None, via="admin"))
        expect(badge).to_have_text("trading", timeout=15_000)
        assert page.evaluate("window.__notReloaded") is True
        context.close()
