"""A basket from CSV in Chromium, against the whole desk on loopback: upload, a refused line in the preview,
fixed and previewed again, one confirmation, the orders filling on the basket's page with its progress;
then a basket whose orders rest, cancelled with a reason."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import AuditLog
from orders.models import Basket, OrderStatus
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Marketable buys (the simulator's AAPL trades at 100): they fill. 2,000 is above the account's
# maximum order quantity (1,000): the desk refuses that line.
UPLOAD = "symbol,side,quantity,order_type,limit_price\nAAPL,BUY,10,LMT,101\nAAPL,BUY,2000,LMT,101\n"
FIXED = "symbol,side,quantity,order_type,limit_price\nAAPL,BUY,10,LMT,101\nAAPL,BUY,5,LMT,101\n"
# Buys well under the market, inside the 5 % collar: they rest until cancelled.
RESTING = "symbol,side,quantity,order_type,limit_price\nAAPL,BUY,3,LMT,96\nAAPL,BUY,4,LMT,96.5\n"


def _preview(page) -> None:
    page.click("#basket-preview-button")
    expect(page.locator("#basket-preview")).to_be_visible(timeout=10_000)


def test_a_basket_from_csv_is_previewed_fixed_sent_filled_and_another_cancelled(desk, redis_client, browser, tmp_path):
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100") as stack:
        context, page = log_in(browser, stack, "trader", "/live/baskets/")
        page.fill("#basket-name", "opening")
        page.set_input_files(
            "#basket-file", files=[{"name": "basket.csv", "mimeType": "text/csv", "buffer": UPLOAD.encode()}]
        )

        _preview(page)

        refused = page.locator("tr.basket-line.refused")
        expect(refused).to_have_count(1)
        expect(refused).to_have_attribute("data-row", "3")
        expect(refused.locator(".check")).to_contain_text("risk.max_quantity")
        expect(page.locator("tr.basket-line.passes")).to_have_count(1)
        expect(page.locator("#basket-send-button")).to_have_count(0)
        # The file's lines are in the editor, to be fixed there.
        assert "AAPL,BUY,2000,LMT,101" in page.input_value("#basket-lines")
        assert in_db(lambda: Basket.objects.count()) == 0

        page.fill("#basket-lines", FIXED)
        _preview(page)

        expect(page.locator("tr.basket-line.passes")).to_have_count(2)
        expect(page.locator("#basket-total")).to_have_text("1,515.00")
        page.click("#basket-send-button")

        page.wait_for_url(f"{stack.url}/live/baskets/*/", timeout=10_000)
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        basket = in_db(lambda: Basket.objects.get())
        orders = in_db(lambda: list(basket.orders.order_by("id")))
        assert [(o.quantity, o.source) for o in orders] == [(Decimal("10"), "admin"), (Decimal("5"), "admin")]
        for order in orders:
            row = page.locator(f"#order-{order.pk}")
            try:
                expect(row).to_have_attribute("data-status", OrderStatus.FILLED, timeout=30_000)
            except AssertionError:
                pytest.fail(f"basket order not FILLED; worker log:\n{stack.log('execution')}\n{stack.log('bridge')}")
        progress = page.locator("#basket-progress")
        expect(progress.locator(".filled-count")).to_have_text("2")
        expect(progress.locator(".working-count")).to_have_text("0")
        expect(progress.locator(".filled-quantity")).to_have_text("15")

        # A second basket that rests, then Cancel basket with its reason.
        page.goto(f"{stack.url}/live/baskets/")
        page.fill("#basket-lines", RESTING)
        _preview(page)
        page.click("#basket-send-button")
        page.wait_for_url(f"{stack.url}/live/baskets/*/", timeout=10_000)
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        resting = in_db(lambda: Basket.objects.get(name=""))
        rows = page.locator("#basket-orders tr.order")
        expect(rows).to_have_count(2)
        for pk in in_db(lambda: list(resting.orders.values_list("pk", flat=True))):
            expect(page.locator(f"#order-{pk}")).to_have_attribute("data-status", OrderStatus.SUBMITTED, timeout=30_000)

        page.click("#basket-cancel summary")
        page.fill("#basket-cancel-reason", "the open was called off")
        page.click("#basket-cancel-confirm")

        expect(page.locator("ul.messagelist:not(#live-messages)")).to_contain_text(
            "2 order(s) of the basket cancelled.", timeout=10_000
        )
        expect(page.locator("#live-status")).to_have_text("live", timeout=10_000)
        for pk in in_db(lambda: list(resting.orders.values_list("pk", flat=True))):
            expect(page.locator(f"#order-{pk}")).to_have_attribute("data-status", OrderStatus.CANCELLED, timeout=30_000)
        expect(page.locator("#basket-progress .working-count")).to_have_text("0")
        expect(page.locator("#basket-status")).to_have_text("Cancelled")
        audit = in_db(lambda: AuditLog.objects.get(action="basket.cancel"))
        assert audit.after["reason"] == "the open was called off"
        expect(page.locator("#live-messages li.error")).to_have_count(0)
        context.close()
