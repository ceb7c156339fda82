"""Tickets from rows with shortcuts, in Debian's Chromium against daphne: a position row's Sell and a
market-watch row's Buy open the ticket prefilled, with the live quote and the notional; the keyboard
places the order (Ctrl+Enter, Enter), B and S open tickets for the row under the pointer and Esc closes
them; the order type of the last entered order is the next ticket's after a reload.

No broker runs: the quote is one ``md.tick`` written to the symbol's tick stream as the worker writes
it, which the market topics socket (/ws/market/) hands to the open ticket. These tests fail (never
skip) when Chromium is missing.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import expect

from execution_worker import messages as m
from orders.models import Order
from streams import keys
from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
DIALOG = "#row-ticket-dialog"


def _quote(redis_client, **prices) -> None:
    quote = {name: Decimal(value) for name, value in prices.items()}
    redis_client.xadd(keys.market_data_stream("AAPL"), m.encode(m.MarketData(symbol="AAPL", **quote)))


def _orders() -> list[tuple]:
    return in_db(lambda: list(Order.objects.values_list("side", "quantity", "order_type", "limit_price", "source")))


def test_a_trader_sells_a_position_from_its_row_and_places_it_with_the_keyboard(desk, redis_client, browser, tmp_path):
    from orders.models import Instrument
    from orders.tests.factories import PositionFactory

    position = in_db(
        lambda: PositionFactory(
            account=desk["account"], instrument=Instrument.objects.get(symbol="AAPL"), quantity=Decimal("25")
        )
    )
    _quote(redis_client, bid="99.90", ask="100.10", last="100.00")
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", "/live/positions/")
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        expect(page.locator("#live-status")).to_have_text("live", timeout=15_000)

        page.click(f"#position-{position.pk} .row-trade-sell")

        dialog = page.locator(DIALOG)
        expect(dialog).to_be_visible(timeout=10_000)
        expect(page.locator("#row-ticket-side-sell")).to_be_checked()
        expect(page.locator("#row-id_quantity")).to_have_value("25")
        expect(page.locator("#row-id_account")).to_have_value(str(desk["account"].pk))
        # The quote from the market topics; a limit to sell starts at the bid, and the notional follows.
        expect(dialog.locator("[data-quote=bid]")).to_have_text("99.90", timeout=10_000)
        expect(dialog.locator("[data-quote=ask]")).to_have_text("100.10")
        expect(dialog.locator("[data-quote=at]")).to_contain_text("at ")
        expect(page.locator("#row-id_limit_price")).to_have_value("99.90")
        expect(page.locator("#row-ticket-notional")).to_have_text("2,497.50")
        expect(dialog.locator("kbd", has_text="Esc").first).to_be_visible()
        if os.environ.get("TC_UPDATE_SCREENSHOTS") == "1":
            page.screenshot(path=str(ROOT / "docs" / "ticket.png"))

        page.keyboard.press("Control+Enter")

        expect(page.locator("#row-ticket-entered")).to_be_visible(timeout=10_000)
        assert _orders() == [("SELL", Decimal("25"), "LMT", Decimal("99.90"), "admin")]
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

        # On the blotter: the order, and the keys on the row under the pointer.
        page.goto(f"{stack.url}/live/orders/")
        order = in_db(Order.objects.get)
        row = page.locator(f"#order-{order.pk}")
        expect(row).to_be_visible(timeout=10_000)
        expect(page.locator("#live-status")).to_have_text("live", timeout=15_000)
        # Compact: at 1,024 px the row's Buy and Sell stay on the screen.
        page.set_viewport_size({"width": 1024, "height": 768})
        box = row.locator(".row-trade-sell").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 1024, box
        page.screenshot(path=str(tmp_path / "blotter-1024.png"))
        row.locator("td").first.hover()
        page.keyboard.press("b")
        expect(dialog).to_be_visible(timeout=10_000)
        expect(page.locator("#row-ticket-side-buy")).to_be_checked()
        expect(page.locator("#row-id_quantity")).to_have_value("25")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        page.keyboard.press("s")
        expect(page.locator("#row-ticket-side-sell")).to_be_checked(timeout=10_000)
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        page.keyboard.press("?")
        expect(page.locator("#row-ticket-help")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#row-ticket-help")).to_be_hidden()
        # Esc sent nothing: still the one order.
        assert in_db(Order.objects.count) == 1
        assert errors == []
        context.close()


def test_a_trader_buys_from_a_market_watch_row_and_the_ticket_remembers_the_order_type(
    desk, redis_client, browser, tmp_path
):
    from marketdata.models import WatchlistEntry
    from orders.models import Instrument

    in_db(lambda: WatchlistEntry.objects.create(user=desk["trader"], instrument=Instrument.objects.get(symbol="AAPL")))
    _quote(redis_client, bid="99.90", ask="100.10", last="100.00")
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as stack:
        context, page = log_in(browser, stack, "trader", "/live/market/")
        expect(page.locator("#live-status")).to_have_text("live", timeout=15_000)

        page.click("#quote-AAPL .row-trade-buy")

        # The row's own click (it opens the chart) did not happen.
        assert page.url == f"{stack.url}/live/market/"
        dialog = page.locator(DIALOG)
        expect(dialog).to_be_visible(timeout=10_000)
        expect(page.locator("#row-ticket-side-buy")).to_be_checked()
        expect(page.locator("#row-id_quantity")).to_have_value("")
        expect(page.locator("#row-id_order_type")).to_have_value("LMT")
        page.select_option("#row-id_order_type", "MKT")
        expect(page.locator("#row-id_limit_price")).to_be_hidden()
        page.fill("#row-id_quantity", "3")
        # A market buy is valued at the ask.
        expect(page.locator("#row-ticket-notional")).to_have_text("300.30", timeout=10_000)

        page.keyboard.press("Enter")

        expect(page.locator("#row-ticket-entered")).to_be_visible(timeout=10_000)
        assert _orders() == [("BUY", Decimal("3"), "MKT", None, "admin")]

        page.reload()
        expect(page.locator("#live-status")).to_have_text("live", timeout=15_000)
        page.locator("#quote-AAPL td").first.hover()
        page.keyboard.press("b")
        expect(dialog).to_be_visible(timeout=10_000)
        expect(page.locator("#row-id_order_type")).to_have_value("MKT")
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()

        # The Market page's own ticket is the same ticket: the chart's quote, the remembered type; and
        # S opens the dialog for the chart's symbol beside it.
        page.goto(f"{stack.url}/live/market/chart/?symbol=AAPL")
        expect(page.locator("#ticket [data-quote=bid]")).to_have_text("99.90", timeout=15_000)
        expect(page.locator("#id_order_type")).to_have_value("MKT")
        page.keyboard.press("s")
        expect(dialog).to_be_visible(timeout=10_000)
        expect(page.locator("#row-ticket-title")).to_have_text("Order ticket · AAPL")
        expect(page.locator("#row-ticket-side-sell")).to_be_checked()
        expect(dialog.locator("[data-quote=ask]")).to_have_text("100.10", timeout=10_000)
        page.keyboard.press("Escape")
        assert in_db(Order.objects.count) == 1
        context.close()
