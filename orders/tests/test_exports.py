"""CSV exports of orders, fills, positions and the audit log: the API's export.csv endpoints and the
admin's Export CSV (link and action): columns in the desk's words, the caller's accounts only,
the lists' filters, cells safe in a spreadsheet."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.http import StreamingHttpResponse
from django.test import AsyncClient
from django.urls import reverse

from accounts.models import AuditLog, Role
from accounts.tests.factories import UserFactory
from orders.models import OrderStatus
from orders.tests.factories import FillFactory, InstrumentFactory, OrderFactory, PositionFactory

# The data carries dates: the clock is pinned to their day (time_machine.travel, by the root conftest's
# clock marker), so the test means the same on any day.
pytestmark = [pytest.mark.django_db, pytest.mark.clock("2026-03-10T16:00:00+00:00")]


def table(response) -> list[dict]:
    """The rows of a CSV response as dicts by heading (the whole stream read)."""
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def as_viewer(api_client, viewer):
    api_client.force_authenticate(viewer)
    return api_client


@pytest.fixture
def msft(db):
    return InstrumentFactory(symbol="MSFT", con_id=272093, last_price=Decimal("400.00"))


def test_orders_export_has_the_desks_columns_in_utc_and_only_the_callers_accounts(
    as_viewer, account, other_account, instrument
):
    mine = OrderFactory(
        account=account, instrument=instrument, side="SELL", quantity=Decimal("25"), limit_price=Decimal("101.50"),
        status=OrderStatus.REJECTED, reject_code="201", reject_reason="Order rejected - margin",
    )  # fmt: skip
    OrderFactory(account=other_account, instrument=instrument)

    rows = table(as_viewer.get(reverse("api-v1:order-export")))

    assert [row["Client order id"] for row in rows] == [str(mine.client_order_id)]
    row = rows[0]
    assert (row["Account"], row["Symbol"], row["Side"], row["Quantity"]) == ("DU0000001", "AAPL", "SELL", "25.0000")
    assert (row["Limit price"], row["Status"], row["Reject reason"]) == (
        "101.500000",
        "REJECTED",
        "Order rejected - margin",
    )
    created = mine.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert row["Created (UTC)"] == created and created.endswith("Z")


def test_orders_export_honours_the_lists_filters(as_viewer, account, instrument, msft):
    OrderFactory(account=account, instrument=instrument, status=OrderStatus.FILLED)
    wanted = OrderFactory(account=account, instrument=msft, status=OrderStatus.FILLED)
    OrderFactory(account=account, instrument=msft, status=OrderStatus.CANCELLED)

    rows = table(as_viewer.get(reverse("api-v1:order-export"), {"symbol": "msft", "status": "FILLED"}))

    assert [row["Client order id"] for row in rows] == [str(wanted.client_order_id)]
    assert as_viewer.get(reverse("api-v1:order-export"), {"status": "NOPE"}).status_code == 400


def test_an_export_is_refused_to_who_is_not_signed_in(api_client):
    assert api_client.get(reverse("api-v1:fill-export")).status_code in (401, 403)


def test_a_text_cell_is_guarded_against_spreadsheet_formulas(as_viewer, account, instrument):
    OrderFactory(account=account, instrument=instrument, status=OrderStatus.REJECTED, reject_reason='=HYPERLINK("x")')

    rows = table(as_viewer.get(reverse("api-v1:order-export"), HTTP_ACCEPT="text/csv"))

    assert rows[0]["Reject reason"] == '\'=HYPERLINK("x")'


def test_fills_export_is_scoped_and_filtered_by_account_and_day(as_viewer, account, other_account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    today = FillFactory(
        account=account, instrument=instrument, order=order, executed_at=datetime(2026, 3, 10, 15, tzinfo=UTC)
    )
    FillFactory(account=account, instrument=instrument, executed_at=datetime(2026, 3, 9, 15, tzinfo=UTC))
    FillFactory(account=other_account, instrument=instrument, executed_at=datetime(2026, 3, 10, 15, tzinfo=UTC))

    rows = table(as_viewer.get(reverse("api-v1:fill-export"), {"date_from": "2026-03-10", "date_to": "2026-03-10"}))

    assert [row["IB execution id"] for row in rows] == [today.exec_id]
    assert rows[0]["Executed (UTC)"] == "2026-03-10T15:00:00Z"
    assert rows[0]["Client order id"] == str(order.client_order_id)
    assert table(as_viewer.get(reverse("api-v1:fill-export"), {"account": other_account.code})) == []


def test_positions_export_leaves_flat_ones_out_unless_asked(as_viewer, account, other_account, instrument, msft):
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("-100"), average_cost=Decimal("99.5"))
    PositionFactory(account=account, instrument=msft, quantity=Decimal("0"))
    PositionFactory(account=other_account, instrument=instrument, quantity=Decimal("5"))

    rows = table(as_viewer.get(reverse("api-v1:position-export")))
    assert [(row["Account"], row["Symbol"], row["Quantity"]) for row in rows] == [("DU0000001", "AAPL", "-100.0000")]
    assert rows[0]["Last price"] == "100.000000"

    rows = table(as_viewer.get(reverse("api-v1:position-export"), {"include_flat": "true"}))
    assert sorted(row["Symbol"] for row in rows) == ["AAPL", "MSFT"]


@pytest.fixture
def audit_entries(account, other_account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    mine = AuditLog.objects.create(
        action="order.reject", object_type="orders.order", object_id=str(order.pk), account=account,
        after={"reject_reason": "@risk: collar"}, via="api",
    )  # fmt: skip
    AuditLog.objects.create(
        action="account.halt",
        object_type="accounts.brokeraccount",
        object_id=str(other_account.pk),
        account=other_account,
    )
    desk = AuditLog.objects.create(
        action="killswitch.engage", object_type="accounts.killswitch", object_id="1", after={"reason": "drill"}
    )
    return order, mine, desk


def test_audit_log_export_names_objects_and_reasons_and_keeps_a_viewer_to_their_accounts(as_viewer, audit_entries):
    order, _, _ = audit_entries

    rows = table(as_viewer.get(reverse("api-v1:audit-log-export")))

    assert [row["Action"] for row in rows] == ["order.reject"]
    assert rows[0]["Reason"] == "'@risk: collar"
    assert rows[0]["Object"] == f"Order: {order}"
    assert rows[0]["Account"] == "DU0000001" and rows[0]["Via"] == "api"


def test_audit_log_export_shows_desk_wide_entries_to_who_may_engage_the_kill_switch(
    api_client, risk_manager, audit_entries
):
    api_client.force_authenticate(risk_manager)

    rows = table(api_client.get(reverse("api-v1:audit-log-export")))
    assert sorted(row["Action"] for row in rows) == ["killswitch.engage", "order.reject"]

    rows = table(api_client.get(reverse("api-v1:audit-log-export"), {"action": "killswitch.engage"}))
    assert [row["Reason"] for row in rows] == ["drill"]


def test_the_admin_changelist_offers_export_csv_with_its_filters(client, viewer, account, instrument, msft):
    client.force_login(viewer)
    changelist = reverse("admin:orders_order_changelist")
    page = client.get(changelist, {"status__exact": "FILLED"})
    assert b'href="export.csv?status__exact=FILLED"' in page.content

    filled = OrderFactory(account=account, instrument=msft, status=OrderStatus.FILLED)
    OrderFactory(account=account, instrument=instrument, status=OrderStatus.NEW)
    rows = table(client.get(reverse("admin:orders_order_export_csv"), {"status__exact": "FILLED"}))

    assert [row["Client order id"] for row in rows] == [str(filled.client_order_id)]


def test_the_admin_export_keeps_a_user_to_their_accounts(client, viewer, account, other_account, instrument):
    FillFactory(account=account, instrument=instrument)
    FillFactory(account=other_account, instrument=instrument)
    client.force_login(viewer)

    rows = table(client.get(reverse("admin:orders_fill_export_csv")))
    assert [row["Account"] for row in rows] == ["DU0000001"]

    rows = table(client.get(reverse("admin:accounts_auditlog_export_csv")))
    assert all(row["Account"] == "DU0000001" for row in rows)


def test_the_admin_action_exports_the_rows_selected(client, viewer, account, instrument, msft):
    chosen = PositionFactory(account=account, instrument=msft, quantity=Decimal("3"))
    PositionFactory(account=account, instrument=instrument, quantity=Decimal("7"))
    client.force_login(viewer)

    response = client.post(
        reverse("admin:orders_position_changelist"), {"action": "export_csv", "_selected_action": [chosen.pk]}
    )

    assert [(row["Symbol"], row["Quantity"]) for row in table(response)] == [("MSFT", "3.0000")]


def test_another_accounts_rows_cannot_be_exported_by_choosing_them(client, viewer, other_account, instrument):
    theirs = PositionFactory(account=other_account, instrument=instrument, quantity=Decimal("3"))
    client.force_login(viewer)

    response = client.post(
        reverse("admin:orders_position_changelist"), {"action": "export_csv", "_selected_action": [theirs.pk]}
    )

    # The action is given the admin's scoped queryset narrowed to the ids chosen: no row of theirs.
    assert table(response) == []


def test_a_user_with_no_role_may_not_export(client, account):
    nobody = UserFactory(username="nobody", roles=[], accounts=[account])
    client.force_login(nobody)
    assert client.get(reverse("admin:orders_order_export_csv")).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_served_by_asgi_the_admin_export_streams_its_rows_from_the_database(account, other_account, instrument):
    # The web process is daphne: each chunk is read in the request's own thread, one at a time.
    viewer = UserFactory(username="asgi-viewer", roles=[Role.VIEWER], accounts=[account])
    mine = [FillFactory(account=account, instrument=instrument) for _ in range(3)]
    FillFactory(account=other_account, instrument=instrument)

    async def export():
        client = AsyncClient()
        await client.aforce_login(viewer)
        response = await client.get(reverse("admin:orders_fill_export_csv"))
        assert response.is_async
        return b"".join([chunk async for chunk in response.streaming_content])

    rows = list(csv.DictReader(io.StringIO(async_to_sync(export)().decode())))

    assert sorted(row["IB execution id"] for row in rows) == sorted(fill.exec_id for fill in mine)


def test_the_live_blotter_links_to_the_export_of_every_order_its_filters_select(
    client, viewer, account, instrument, msft, redis_client
):
    filled = OrderFactory(account=account, instrument=msft, status=OrderStatus.FILLED)
    OrderFactory(account=account, instrument=instrument, status=OrderStatus.NEW)
    client.force_login(viewer)

    page = client.get("/live/orders/", {"account": str(account.pk), "status": "FILLED", "strategy": ""})
    link = re.search(r'href="([^"]+)" class="button csv-export-link"', page.content.decode()).group(1)

    assert link == f"{reverse('api-v1:order-export')}?account={account.pk}&amp;status=FILLED"
    rows = table(client.get(html.unescape(link)))
    assert [row["Client order id"] for row in rows] == [str(filled.client_order_id)]
