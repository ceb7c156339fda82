"""Toasts in Chromium over the whole desk: a fill and a reject (with its reason) on the Market watch, a page
that shows no orders; the kill switch's sticky toast on the Desk, shown once across a reconnect; the sound
toggle remembered across a reload."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from orders.models import Order, OrderStatus
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _submit(desk, symbol: str, limit_price: str) -> Order:
    from orders.services import order_submit

    return in_db(
        lambda: order_submit(
            actor=desk["trader"],
            account=desk["account"],
            instrument=symbol,
            side="BUY",
            quantity=Decimal("10"),
            order_type="LMT",
            limit_price=Decimal(limit_price),
            source="admin",
            via="admin",
        )
    )


def test_a_fill_and_a_reject_with_its_reason_are_toasted_on_the_market_watch(desk, redis_client, browser, tmp_path):
    from marketdata.models import WatchlistEntry
    from orders.models import Instrument
    from orders.tests.factories import InstrumentFactory

    def prepare():
        WatchlistEntry.objects.create(user=desk["trader"], instrument=Instrument.objects.get(symbol="AAPL"))
        # No price anywhere (the simulator and the worker quote AAPL only): the worker's collar refuses it.
        InstrumentFactory(symbol="MSFT", con_id=272093, last_price=None)

    in_db(prepare)
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100") as stack:
        context, page = log_in(browser, stack, "trader", "/live/market/")
        context.clock.install()
        page.reload()
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        # The sound: off by default, on after a click, still on after a reload (localStorage).
        sound = page.locator("#toast-sound")
        expect(sound).to_have_attribute("aria-pressed", "false")
        sound.click()
        expect(sound).to_have_attribute("aria-pressed", "true")
        page.reload()
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        expect(sound).to_have_attribute("aria-pressed", "true")
        expect(sound).to_have_text("Sound on")
        # The worker quotes AAPL (the market watch shows a last price): its collar has a price to check.
        expect(page.locator("#quote-AAPL td.num").nth(4)).not_to_have_text("", timeout=20_000)

        filled = _submit(desk, "AAPL", "101")
        toast = page.locator("#toast-stack .toast[data-event=fill]")
        try:
            expect(toast).to_have_count(1, timeout=30_000)
        except AssertionError:
            in_db(filled.refresh_from_db)
            pytest.fail(f"no fill toast; order {filled.status} {filled.reject_reason}\n{stack.log('bridge')}")
        expect(toast).to_contain_text("BUY 10 AAPL @")
        expect(toast).to_contain_text("DU0000001")
        expect(toast).to_have_class("toast toast-ok")
        # Told once, politely: the toast has no live role of its own (toasts.js).
        expect(page.locator("#toast-polite p").last).to_contain_text("Fill: BUY 10 AAPL @")
        assert page.evaluate("window.toastStats.beeps") >= 1

        rejected = _submit(desk, "MSFT", "300")
        refused = page.locator("#toast-stack .toast[data-event=reject]")
        expect(refused).to_have_count(1, timeout=30_000)
        in_db(rejected.refresh_from_db)
        assert rejected.status == OrderStatus.REJECTED and rejected.reject_reason
        expect(refused).to_contain_text(rejected.reject_reason)
        expect(refused).to_contain_text(f"({rejected.reject_code})")
        told = page.locator("#toast-urgent p").last
        expect(told).to_contain_text("Order rejected: BUY 10 MSFT LMT 300")
        expect(told).to_contain_text(rejected.reject_reason)
        assert page.locator("#toast-stack .toast[role], #toasts[aria-live], #toast-stack[aria-live]").count() == 0

        # Nine seconds on: the fill's toast went by itself, the reject's stays until dismissed.
        page.clock.fast_forward(9_000)
        expect(toast).to_have_count(0)
        expect(refused).to_have_count(1)
        refused.locator(".toast-dismiss").click()
        expect(refused).to_have_count(0)
        assert page.evaluate("window.toastStats.shown") == 2
        context.close()


def test_the_kill_switch_is_toasted_on_the_desk_until_dismissed_and_once_across_a_reconnect(
    desk, redis_client, browser, tmp_path
):
    from accounts.models import Role
    from accounts.services import account_halt
    from streams.tests.harness import browser_user

    in_db(lambda: browser_user("risk", [Role.RISK_MANAGER], [desk["account"]]))
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", "/live/")
        context.clock.install()
        page.reload()
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)

        risk_context, switch_page = log_in(browser, stack, "risk", "/admin/accounts/killswitch/")
        switch_page.fill("#id_reason", "flash crash")
        switch_page.click("input[type=submit][value='Engage the kill switch']")
        expect(switch_page.locator("#kill-switch-state")).to_contain_text("Engaged", timeout=10_000)

        kill = page.locator("#toast-stack .toast[data-event=kill]")
        expect(kill).to_have_count(1, timeout=10_000)
        expect(kill).to_contain_text("Kill switch engaged")
        expect(kill).to_contain_text("flash crash · working orders cancelled · by risk")
        expect(kill).to_have_attribute("data-sticky", "1")
        expect(kill).to_have_class("toast toast-bad toast-sticky")
        # The sound is off until the user turns it on.
        expect(page.locator("#toast-sound")).to_have_attribute("aria-pressed", "false")
        assert page.evaluate("window.toastStats.beeps") == 0

        in_db(lambda: account_halt(account=desk["account"], actor=None, reason="margin call", via="api"))
        halt = page.locator("#toast-stack .toast[data-event=halt]")
        expect(halt).to_contain_text("DU0000001: margin call", timeout=10_000)

        # A reconnect reloads the snapshot: no notice comes back as a new toast.
        resyncs = page.evaluate("window.liveStats.resyncs")
        page.evaluate("window.liveSocket.close()")
        page.wait_for_function(f"window.liveStats.resyncs > {resyncs}", timeout=15_000)
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        assert page.evaluate("window.toastStats.shown") == 2

        page.clock.fast_forward(9_000)
        expect(halt).to_have_count(0)
        expect(kill).to_have_count(1)
        kill.locator(".toast-dismiss").click()
        expect(kill).to_have_count(0)
        risk_context.close()
        context.close()
