"""Flatten from the live pages in Chromium: a position row's button, its reason prompt, one order."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from accounts.models import AuditLog
from orders.models import Order
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_trader_flattens_a_position_from_its_row_with_a_reason(desk, redis_client, browser, tmp_path):
    from orders.models import Instrument
    from orders.tests.factories import PositionFactory

    position = in_db(
        lambda: PositionFactory(
            account=desk["account"], instrument=Instrument.objects.get(symbol="AAPL"), quantity=Decimal("25")
        )
    )
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", "/live/positions/")
        prompts = []

        def answer(dialog):
            prompts.append(dialog.message)
            dialog.accept("closing before the print")

        page.on("dialog", answer)
        row = page.locator(f"#position-{position.pk}")
        button = row.locator("button.flatten")
        expect(button).to_be_visible(timeout=15_000)

        button.click()

        orders = []
        for _ in range(50):
            orders = in_db(lambda: list(Order.objects.values_list("side", "quantity", "order_type", "source")))
            if orders:
                break
            page.wait_for_timeout(200)
        assert prompts and "AAPL" in prompts[0]
        expect(page.locator("#live-messages li.error")).to_have_count(0)
        assert orders == [("SELL", Decimal("25"), "MKT", "admin")]
        audit = in_db(lambda: AuditLog.objects.get(action="position.flatten"))
        assert (audit.actor_id, audit.after["reason"]) == (desk["trader"].pk, "closing before the print")
        context.close()


def test_a_dismissed_prompt_sends_nothing(desk, redis_client, browser, tmp_path):
    from orders.models import Instrument
    from orders.tests.factories import PositionFactory

    position = in_db(
        lambda: PositionFactory(
            account=desk["account"], instrument=Instrument.objects.get(symbol="AAPL"), quantity=Decimal("25")
        )
    )
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", "/live/positions/")
        page.on("dialog", lambda dialog: dialog.dismiss())
        button = page.locator(f"#position-{position.pk} button.flatten")
        expect(button).to_be_visible(timeout=15_000)

        button.click()
        page.wait_for_timeout(1_000)

        assert in_db(lambda: Order.objects.count()) == 0
        context.close()
