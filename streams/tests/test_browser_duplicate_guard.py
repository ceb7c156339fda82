"""Back, then Save, in the admin's "Add order" (issue 16 #1), in Debian's Chromium against daphne.

These tests fail (never skip) when Chromium is missing: ``make test`` installs it with apt.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import AuditLog
from orders.models import Order
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ADD = "/admin/orders/order/add/"


def _enter(page, the_desk) -> None:
    page.select_option("#id_account", str(the_desk["account"].pk))
    page.select_option("#id_instrument", label="AAPL")
    page.select_option("#id_side", "BUY")
    page.fill("#id_quantity", "7")
    page.select_option("#id_order_type", "LMT")
    page.fill("#id_limit_price", "99")


def _orders() -> list[Order]:
    return in_db(lambda: list(Order.objects.order_by("id")))


def _back_then_save(page, stack, the_desk) -> Order:
    """Enter an order, press Back, Save the form the browser shows again; return the first order."""
    page.goto(f"{stack.url}{ADD}")
    _enter(page, the_desk)
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("Order entered", timeout=10_000)
    [first] = _orders()
    page.go_back()
    page.wait_for_url(f"{stack.url}{ADD}", timeout=10_000)
    if not page.input_value("#id_quantity"):
        # A browser that does not restore the fields: the person types the same order again.
        _enter(page, the_desk)
    page.click("input[name=_save]")
    return first


def test_back_then_save_asks_for_confirmation_and_confirming_places_a_second_order(
    desk,
    redis_client,
    browser,
    tmp_path,
):
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", ADD)
        first = _back_then_save(page, stack, desk)

        step = page.locator("#duplicate-confirmation")
        expect(step).to_be_visible(timeout=10_000)
        expect(step).to_contain_text(str(first.client_order_id))
        expect(step).to_contain_text(first.get_status_display())
        assert len(_orders()) == 1

        page.click("button[name=confirm_duplicate]")
        expect(page.locator(".messagelist")).to_contain_text("Order entered", timeout=10_000)
        orders = _orders()
        assert len(orders) == 2
        assert orders[1].quantity == orders[0].quantity
        actions = in_db(lambda: list(AuditLog.objects.order_by("id").values_list("action", flat=True)))
        assert "order.duplicate_refused" in actions
        assert "order.duplicate_confirmed" in actions
        context.close()


def test_back_then_save_then_anything_but_confirming_places_nothing(
    desk,
    redis_client,
    browser,
    tmp_path,
):
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", ADD)
        _back_then_save(page, stack, desk)
        expect(page.locator("#duplicate-confirmation")).to_be_visible(timeout=10_000)

        # Save again without confirming: asked again, still one order.
        page.click("input[name=_save]")
        expect(page.locator("#duplicate-confirmation")).to_be_visible(timeout=10_000)
        # Leaving the page places nothing either.
        page.goto(f"{stack.url}/admin/orders/order/")
        assert len(_orders()) == 1
        context.close()
