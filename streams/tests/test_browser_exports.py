"""Export CSV of fills, positions and the audit log from the admin's lists (issue 22), in Debian's Chromium:
the file downloaded holds the rows the list shows, as searched, and nothing of another account."""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from streams.tests.harness import in_db, log_in
from streams.tests.stack import running_stack

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(desk, tmp_path):
    with running_stack(tmp_path, accounts="DU0000001", instruments="AAPL=100", with_broker=False) as running:
        yield running


@pytest.fixture
def records(desk):
    """Fills and positions in AAPL and MSFT on the desk's account and on an account the trader is not a
    member of; the desk's account halted and resumed, the other halted (audit rows with their reasons)."""
    from accounts.services import account_halt, account_resume
    from accounts.tests.factories import BrokerAccountFactory
    from orders.models import Instrument
    from orders.tests.factories import FillFactory, InstrumentFactory, PositionFactory

    def make():
        mine, theirs = desk["account"], BrokerAccountFactory(code="DU0000999")
        aapl, msft = Instrument.objects.get(symbol="AAPL"), InstrumentFactory(symbol="MSFT")
        for account in (mine, theirs):
            FillFactory(account=account, instrument=aapl, quantity=Decimal("10"), exec_id=f"{account.code}.aapl.1")
            FillFactory(account=account, instrument=aapl, quantity=Decimal("5"), exec_id=f"{account.code}.aapl.2")
            FillFactory(account=account, instrument=msft, quantity=Decimal("7"), exec_id=f"{account.code}.msft.1")
            PositionFactory(account=account, instrument=aapl, quantity=Decimal("15"), average_cost=Decimal("100"))
            PositionFactory(account=account, instrument=msft, quantity=Decimal("7"), average_cost=Decimal("50"))
        account_halt(account=mine, actor=None, reason="margin call", via="admin")
        account_resume(account=mine, actor=None, via="admin")
        account_halt(account=theirs, actor=None, reason="not yours to see", via="admin")
        return {"mine": mine, "theirs": theirs}

    return in_db(make)


def _download(page) -> list[dict]:
    with page.expect_download() as download_info:
        page.click("a.csv-export-link")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8-sig") as exported:
        return list(csv.DictReader(exported))


def _search(page, text: str) -> None:
    page.fill("#searchbar", text)
    page.press("#searchbar", "Enter")
    expect(page.locator("#searchbar")).to_have_value(text)


def test_fills_positions_and_the_audit_log_export_what_the_list_shows(stack, browser, records):
    context, page = log_in(browser, stack, "trader", "/admin/orders/fill/")

    _search(page, "AAPL")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    fills = _download(page)
    assert sorted(row["IB execution id"] for row in fills) == ["DU0000001.aapl.1", "DU0000001.aapl.2"]

    page.goto(f"{stack.url}/admin/orders/position/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    positions = _download(page)
    assert sorted((row["Account"], row["Symbol"], Decimal(row["Quantity"])) for row in positions) == [
        ("DU0000001", "AAPL", Decimal("15")),
        ("DU0000001", "MSFT", Decimal("7")),
    ]

    page.goto(f"{stack.url}/admin/accounts/auditlog/")
    _search(page, "account.halt")
    audit = _download(page)
    assert [(row["Action"], row["Account"], row["Reason"]) for row in audit] == [
        ("account.halt", "DU0000001", "margin call")
    ]
    context.close()
