"""Pages you can read at a glance (issue 22), in Debian's Chromium at 1,024 px wide: the admin index's
Desk table, the styled refusal page, reasons shown as text, the blotter's Cancel button and the
admin order list's Status column on screen without scrolling sideways."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import ProcessHeartbeat
from orders.models import OrderStatus
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NARROW = {"width": 1024, "height": 768}


@pytest.fixture
def stack(desk, tmp_path):
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as running:
        yield running


def on_screen(page, selector: str) -> dict:
    """Where ``selector``'s element ends, the window's width and whether the page scrolls sideways."""
    return page.evaluate(
        """(selector) => {
             const box = document.querySelector(selector).getBoundingClientRect();
             return {right: box.right, width: window.innerWidth,
                     sideways: document.scrollingElement.scrollWidth > window.innerWidth};
           }""",
        selector,
    )


def test_the_desk_table_reads_and_tables_fit_at_1024_px(stack, browser, desk):
    from orders.tests.factories import OrderFactory

    account = desk["account"]
    working = in_db(lambda: OrderFactory(account=account, instrument__symbol="MSFT", status=OrderStatus.SUBMITTED))
    rejected = in_db(
        lambda: OrderFactory(
            account=account,
            instrument__symbol="MSFT",
            status=OrderStatus.REJECTED,
            reject_code="201",
            reject_reason="Order rejected: insufficient buying power",
        )
    )
    in_db(
        lambda: type(account).objects.filter(pk=account.pk).update(trading_enabled=False, halted_reason="margin call")
    )

    context, page = log_in(browser, stack, "trader", "/admin/")
    page.set_viewport_size(NARROW)

    # The Desk table: each header on one line (at most two), never a letter a line.
    headers = page.evaluate(
        """() => [...document.querySelectorAll('#desk-summary thead th')].map(th => {
             const style = getComputedStyle(th);
             const line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.4;
             const inner = th.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
             return {text: th.innerText.trim(), lines: Math.round(inner / line), width: th.clientWidth,
                     needs: th.scrollWidth};
           })"""
    )
    assert [h["text"].lower() for h in headers] == ["account", "name", "kind", "trading", "open orders"]
    for header in headers:
        assert header["lines"] <= 2, header
        assert header["width"] >= header["needs"], header
    open_orders = next(h for h in headers if h["text"].lower() == "open orders")
    assert open_orders["lines"] == 1
    expect(page.locator("#desk-summary")).to_contain_text("margin call")

    # The blotter: the reject reason as text on the row, the Cancel button on screen.
    page.goto(f"{stack.url}/live/orders/")
    expect(page.locator(f"#order-{rejected.pk} .live-reason")).to_have_text("Order rejected: insufficient buying power")
    expect(page.locator(f"#order-{rejected.pk} .live-reason")).to_be_visible()
    cancel = page.locator(f"#order-{working.pk} .live-cancel")
    expect(cancel).to_be_visible()
    placed = on_screen(page, f"#order-{working.pk} .live-cancel")
    assert placed["right"] <= placed["width"] and not placed["sideways"], placed

    # The desk: the halt reason as text beside the badge.
    page.goto(f"{stack.url}/live/")
    expect(page.locator(f"#account-{account.pk} .live-reason")).to_have_text("margin call")
    expect(page.locator(f"#account-{account.pk} .live-reason")).to_be_visible()

    # The admin's order list: the Status column on screen.
    page.goto(f"{stack.url}/admin/orders/order/")
    expect(page.locator("th.column-status")).to_be_visible()
    placed = on_screen(page, "th.column-status")
    assert placed["right"] <= placed["width"], placed
    context.close()


def test_a_viewer_opening_add_order_gets_the_consoles_styled_refusal(stack, browser, desk):
    context, page = log_in(browser, stack, "viewer", "/admin/")
    page.set_viewport_size(NARROW)

    response = page.goto(f"{stack.url}/admin/orders/order/add/")

    assert response.status == 403
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator(".messagelist .error")).to_have_text("Your role does not allow this page or action.")
    expect(page.locator("a.button", has_text="Back to the desk")).to_be_visible()
    # Styled: the admin's stylesheet applied (its header bar is coloured, the body font is not the default).
    header_background = page.evaluate("getComputedStyle(document.querySelector('#header')).backgroundColor")
    assert header_background not in ("rgba(0, 0, 0, 0)", "transparent")
    icon = page.request.get(f"{stack.url}/favicon.ico")
    assert icon.status == 200 and icon.body()[:4] == b"\x00\x00\x01\x00"
    # The web process lists itself on the Desk by its own heartbeat.
    assert in_db(lambda: ProcessHeartbeat.objects.filter(name="web", state="running").exists())
    context.close()
