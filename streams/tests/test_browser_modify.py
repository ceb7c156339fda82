"""Modify in Chromium: a trader changes a working limit order's price, quantity and TIF from the blotter, sees
it pending, and the simulator's confirmation updates the row live; a modify the desk refuses says why in its
dialog, one the worker refuses later says why on the row, each with its code."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from orders.models import Order, OrderStatus
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Every text the row's pending badge shows, however briefly: the broker's answer may replace it within
# milliseconds, so the page records each one as it is inserted rather than the test polling for it.
WATCH_BADGES = """(pk) => {
  window.__pendingSeen = [];
  const note = () => document.querySelectorAll(`#order-${pk} .modify-pending`).forEach(
    (b) => window.__pendingSeen.push(b.textContent.trim()));
  new MutationObserver(note).observe(document.getElementById("live-root"), {childList: true, subtree: true});
}"""


def _working_order(desk) -> Order:
    from orders.models import Instrument
    from orders.services import order_submit

    return in_db(
        lambda: order_submit(
            actor=desk["trader"],
            account=desk["account"],
            instrument=Instrument.objects.get(symbol="AAPL"),
            side="BUY",
            quantity=Decimal("10"),
            order_type="LMT",
            limit_price=Decimal("97.00"),
            source="admin",
            via="test",
        )
    )


def test_a_trader_modifies_a_working_limit_order_and_the_brokers_confirmation_shows_live(
    desk, redis_client, browser, tmp_path
):
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100") as stack:
        context, blotter = log_in(browser, stack, "trader", "/live/orders/")
        expect(blotter.locator("#live-status")).to_have_text("live", timeout=10_000)
        order = _working_order(desk)
        row = blotter.locator(f"#order-{order.pk}")
        # The simulator works a buy at 97 under a market at 100: it rests.
        expect(row).to_have_attribute("data-status", OrderStatus.SUBMITTED, timeout=20_000)
        blotter.evaluate(WATCH_BADGES, order.pk)

        row.locator("button.live-modify").click()
        dialog = blotter.locator(f"dialog#modify-{order.pk}")
        expect(dialog).to_be_visible(timeout=10_000)
        # htmx focuses the quantity once the dialog settles: typing before that would land in it.
        expect(dialog.locator("input[name=quantity]")).to_be_focused()
        expect(dialog.locator("input[name=quantity]")).to_have_value("10")
        expect(dialog.locator("input[name=limit_price]")).to_have_value("97")
        expect(dialog.locator("select[name=tif]")).to_have_value("DAY")
        dialog.locator("input[name=quantity]").fill("15")
        dialog.locator("input[name=limit_price]").fill("98")
        dialog.locator("select[name=tif]").select_option("GTC")
        dialog.locator("button.modify-send").click()

        expect(dialog).to_have_count(0, timeout=10_000)
        # The broker confirmed: the row works 15 at 98, and the pending badge is gone, without a reload.
        try:
            expect(row.locator(".col-qty")).to_have_text("15", timeout=20_000)
            expect(row.locator(".modify-pending")).to_have_count(0, timeout=10_000)
        except AssertionError:
            pytest.fail(f"modify not confirmed on the row; worker log:\n{stack.log('execution')}")
        expect(row.locator(".col-limit")).to_have_text("98")
        assert "modify pending: qty 10 → 15, limit 97 → 98, TIF DAY → GTC" in blotter.evaluate("window.__pendingSeen")
        expect(blotter.locator("#live-messages li.error")).to_have_count(0)
        in_db(order.refresh_from_db)
        assert (order.quantity, order.limit_price, order.tif, order.pending_quantity, order.modify_requested_at) == (
            Decimal("15"),
            Decimal("98"),
            "GTC",
            None,
            None,
        )

        # A price alone: IB's status carries no price, the terms TWS's openOrder gave the worker confirm it.
        row.locator("button.live-modify").click()
        expect(dialog.locator("input[name=limit_price]")).to_have_value("98", timeout=10_000)
        expect(dialog.locator("input[name=quantity]")).to_be_focused()
        dialog.locator("input[name=limit_price]").fill("98.5")
        dialog.locator("button.modify-send").click()
        expect(row.locator(".col-limit")).to_have_text("98.5", timeout=10_000)
        expect(row.locator(".modify-pending")).to_have_count(0, timeout=20_000)
        assert "modify pending: limit 98 → 98.5" in blotter.evaluate("window.__pendingSeen")
        in_db(order.refresh_from_db)
        assert (order.limit_price, order.modify_prior, order.modify_requested_at) == (Decimal("98.5"), {}, None)
        context.close()


def test_a_refused_modify_shows_its_reason_and_code_and_leaves_the_order_as_it_was(
    desk, redis_client, browser, tmp_path
):
    order = _working_order(desk)
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, blotter = log_in(browser, stack, "trader", "/live/orders/")
        row = blotter.locator(f"#order-{order.pk}")
        button = row.locator("button.live-modify")
        expect(button).to_be_visible(timeout=15_000)

        button.click()
        dialog = blotter.locator(f"dialog#modify-{order.pk}")
        expect(dialog.locator("input[name=quantity]")).to_be_focused(timeout=10_000)
        refusal = dialog.locator(".modify-refusal")
        expect(refusal).to_be_hidden()
        dialog.locator("input[name=limit_price]").fill("97.005")
        dialog.locator("button.modify-send").click()

        expect(refusal).to_be_visible(timeout=10_000)
        expect(refusal).to_contain_text("(order.price_off_tick)")
        expect(refusal).to_contain_text("tick")
        expect(blotter.locator("#live-messages li.error").first).to_contain_text("(order.price_off_tick)")
        expect(row.locator(".modify-pending")).to_have_count(0)

        dialog.locator("button.modify-close").click()
        expect(dialog).to_have_count(0)
        # Opened again, it starts from the order as it is (the refused price is not kept); Escape closes it.
        button.click()
        expect(dialog.locator("input[name=limit_price]")).to_have_value("97", timeout=10_000)
        expect(dialog.locator("input[name=quantity]")).to_be_focused()
        blotter.keyboard.press("Escape")
        expect(dialog).to_have_count(0)
        in_db(order.refresh_from_db)
        assert (order.limit_price, order.modify_requested_at) == (Decimal("97"), None)
        context.close()


def test_a_modify_the_worker_refuses_is_said_on_the_row_live(desk, redis_client, browser, tmp_path):
    import json

    from django.conf import settings

    from execution_worker.messages import StreamNames
    from orders.models import RiskLimit
    from orders.services.risk_limits import risk_limits_data

    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100") as stack:
        context, blotter = log_in(browser, stack, "trader", "/live/orders/")
        expect(blotter.locator("#live-status")).to_have_text("live", timeout=10_000)
        order = _working_order(desk)
        row = blotter.locator(f"#order-{order.pk}")
        expect(row).to_have_attribute("data-status", OrderStatus.SUBMITTED, timeout=20_000)
        # The desk's limits raised behind the worker's back (no publish): the desk lets 1,200 through,
        # the worker, still at its 1,000 an order, refuses it after the answer the page got. The
        # worker's copy is written again as it was and given two of its one-second re-reads, so the
        # worker is known to hold 1,000 whatever was published while the stack started.
        key = StreamNames(settings.STREAM_PREFIX).risk_limits("DU0000001")
        worker_limits = in_db(lambda: risk_limits_data(RiskLimit.objects.get(account=desk["account"])))
        in_db(
            lambda: RiskLimit.objects.filter(account=desk["account"]).update(
                max_order_quantity=Decimal("5000"), max_order_notional=Decimal("1000000")
            )
        )
        redis_client.set(key, json.dumps(worker_limits))
        blotter.wait_for_timeout(2_100)

        row.locator("button.live-modify").click()
        dialog = blotter.locator(f"dialog#modify-{order.pk}")
        expect(dialog.locator("input[name=quantity]")).to_be_focused(timeout=10_000)
        dialog.locator("input[name=quantity]").fill("1200")
        dialog.locator("button.modify-send").click()

        refused = row.locator(".modify-refused")
        try:
            expect(refused).to_contain_text("modify refused: risk.", timeout=20_000)
        except AssertionError:
            pytest.fail(
                f"no refusal on the row; the worker's limits: {redis_client.get(key)}\n"
                f"worker log:\n{stack.log('execution')}\nbridge log:\n{stack.log('bridge')}"
            )
        expect(row.locator(".modify-pending")).to_have_count(0)
        expect(row.locator(".col-qty")).to_have_text("10")
        in_db(order.refresh_from_db)
        assert (order.quantity, order.pending_quantity) == (Decimal("10"), None)
        assert order.modify_refusal.startswith("risk.")
        context.close()
