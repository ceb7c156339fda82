"""Toasts past the sticky cap in Chromium: 500 rejects (dispatched in the page as the ``live:notice``
events live.js makes of a ``rows`` frame's notices, not 500 real rejects) show 5 toasts and one
"+495 more rejects" that counts exactly, links to the blotter's rejected orders and dismisses them all;
a kill switch's toast is always shown; each toast is told once, in one of the two live regions."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from playwright.sync_api import expect

from streams.tests.harness import log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The same CustomEvent live.js dispatches for each notice row of a frame (its detail: the row itself).
DISPATCH = "rows => rows.forEach(r => document.dispatchEvent(new CustomEvent('live:notice', { detail: r })))"

NOTICES = {
    "reject": ("Order rejected", "bad", True),
    "refused": ("Modify refused", "bad", True),
    "kill": ("Kill switch engaged", "bad", True),
    "fill": ("Fill", "ok", False),
}


def _notice(audit_id: int, event: str) -> dict:
    """One notice row as the socket delivers it (streams.row_frames.row_json), rendered by the real template."""
    title, level, sticky = NOTICES[event]
    ctx = {
        "audit_id": audit_id,
        "event": event,
        "title": title,
        "text": f"{event} number {audit_id}",
        "level": level,
        "sticky": sticky,
        "at": "10:00:00",
    }
    html = render_to_string("streams/rows/notice.html", {"row": ctx})
    return {"id": f"notice-{audit_id}", "kind": "notice", "html": html, "op": "upsert", "data": None, "ts": None}


def test_five_sticky_toasts_at_most_the_rest_counted_exactly_and_dismissed_all(desk, redis_client, browser, tmp_path):
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", "/live/")
        context.clock.install()
        page.reload()
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)

        rejects = [_notice(1000 + i, "reject") for i in range(500)]
        refused = [_notice(2000 + i, "refused") for i in range(3)]
        # Sent twice over, as a resent frame would: each notice counts once.
        page.evaluate(DISPATCH, rejects + refused + rejects[:50])

        shown = page.locator("#toast-stack .toast[data-event=reject]")
        more = page.locator("#toast-more")
        expect(shown).to_have_count(5)
        # The first five arrived are shown, newest on top.
        expect(shown.first).to_have_id("notice-1004")
        expect(shown.last).to_have_id("notice-1000")
        expect(page.locator("#toast-stack .toast[data-event=refused]")).to_have_count(0)
        expect(more.locator(".toast-title")).to_have_text("+498 more rejects")
        expect(more.locator(".toast-text")).to_have_text(
            "Not shown here: 495 orders rejected, 3 modifies or cancels refused."
        )
        expect(more.locator("a.toast-more-link")).to_have_attribute("href", "/live/orders/?status=REJECTED")
        assert page.evaluate("[window.toastStats.shown, window.toastStats.held]") == [503, 498]

        # One announcement per toast shown, in the urgent region only; the stack and its toasts are not live.
        urgent = page.locator("#toast-urgent p")
        expect(urgent.last).to_have_text("Order rejected: reject number 1004")
        assert page.locator("#toast-stack .toast[role], #toast-stack[aria-live], #toasts[aria-live]").count() == 0
        # The count is told once, when the burst is over (the page's clock runs on, too: no "not yet" check).
        page.clock.fast_forward(1_500)
        told = page.locator("#toast-polite p", has_text="more rejects not shown")
        expect(told).to_have_text(["498 more rejects not shown"])
        expect(urgent).to_have_count(3)  # the region keeps its last three lines

        # Dismissing a shown reject brings the oldest held one in: still five shown, one fewer counted.
        page.locator("#notice-1002 .toast-dismiss").click()
        expect(shown).to_have_count(5)
        expect(page.locator("#notice-1005")).to_be_visible()
        expect(more.locator(".toast-title")).to_have_text("+497 more rejects")

        # A kill switch's toast is always shown, in place of the newest reject shown, which is counted again.
        page.evaluate(DISPATCH, [_notice(3000, "kill"), _notice(3001, "fill")])
        kill = page.locator("#notice-3000")
        expect(kill).to_be_visible()
        expect(page.locator("#toast-stack .toast[data-sticky='1']:not(.toast-more)")).to_have_count(5)
        expect(page.locator("#notice-1005")).to_have_count(0)
        expect(more.locator(".toast-title")).to_have_text("+498 more rejects")
        expect(urgent.last).to_have_text("Kill switch engaged: kill number 3000")
        expect(page.locator("#toast-polite p", has_text="Fill:")).to_have_text(["Fill: fill number 3001"])

        # Dismiss all: every reject, shown and counted, goes; the kill switch's and the fill's stay.
        more.locator(".toast-dismiss-all").click()
        expect(shown).to_have_count(0)
        expect(more).to_have_count(0)
        expect(kill).to_be_visible()
        expect(page.locator("#notice-3001")).to_be_visible()
        assert page.evaluate("[window.toastStats.shown, window.toastStats.held]") == [505, 0]
        # The fill still goes by itself, the kill switch's stays; a later reject is shown again.
        page.clock.fast_forward(9_000)
        expect(page.locator("#notice-3001")).to_have_count(0)
        expect(kill).to_be_visible()
        page.evaluate(DISPATCH, [_notice(4000, "reject"), rejects[0]])
        expect(shown).to_have_count(1)
        expect(page.locator("#notice-4000")).to_be_visible()
        context.close()
