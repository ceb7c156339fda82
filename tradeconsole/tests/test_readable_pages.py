"""Pages you can read at a glance (issue 22): labels in the desk's words, a favicon, a styled 403, the audit log."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import services as account_services
from accounts.models import AuditLog
from orders import services as order_services
from orders.models import Order, ScheduledOrder

pytestmark = pytest.mark.django_db


def submit(actor, account, instrument) -> Order:
    return order_services.order_submit(
        actor=actor, account=account, instrument=instrument, side="BUY", quantity=3, order_type="LMT",
        limit_price=Decimal("100.00"), source="admin", via="admin",
    )  # fmt: skip


def test_order_fields_are_labelled_in_the_desks_words_on_the_order_page(admin_client, admin_user, account, instrument):
    order = submit(admin_user, account, instrument)

    page = admin_client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    for label in ("Time in force", "Outside regular trading hours", "IB order id", "IB perm id", "OCA group"):
        assert f">{label}:</label>" in page
    for raw in (">Tif:", ">Ib order id:", ">Outside rth:", ">Perm id:", ">Oca group:"):
        assert raw not in page
    assert ScheduledOrder._meta.get_field("tif").verbose_name == "time in force"


def test_the_api_token_section_is_named_api_access(admin_client):
    index = admin_client.get(reverse("admin:index")).content.decode()

    assert "API access" in index
    assert ">Knox<" not in index


def test_the_favicon_is_a_real_icon_served_at_the_root(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file's header: reserved 0, type 1 (icon)
    assert 0 < len(body) < 20_000
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")


def test_a_viewer_opening_add_order_gets_the_consoles_refusal_page(client, viewer):
    client.force_login(viewer)

    response = client.get(reverse("admin:orders_order_add"))

    assert response.status_code == 403
    page = response.content.decode()
    assert "admin/css/base.css" in page  # the admin's look, not Django's bare page
    assert "<h1>Not allowed</h1>" in page
    assert "Your role does not allow this page or action." in page
    assert "viewer" in page and reverse("admin:index") in page


def test_the_audit_log_shows_the_reason_and_names_the_object(admin_client, admin_user, account, instrument):
    order = submit(admin_user, account, instrument)
    order_services.order_cancel(order=order, actor=admin_user, reason="fat finger on the size", via="admin")
    account_services.account_halt(account=account, actor=admin_user, reason="broker margin call", via="admin")
    entries = AuditLog.objects.filter(action__in=["order.cancel", "account.halt"])
    assert entries.count() == 2

    page = admin_client.get(reverse("admin:accounts_auditlog_changelist")).content.decode()

    order.refresh_from_db()
    assert "fat finger on the size" in page and "broker margin call" in page
    assert f"Order: {order}" in page
    assert reverse("admin:orders_order_change", args=[order.pk]) in page
    assert f"Broker account: {account.code}" in page
    assert f"orders.order #{order.pk}" not in page


def test_an_audit_entry_of_an_object_gone_since_is_named_by_type_and_id(admin_client, admin_user, account):
    AuditLog.objects.create(action="thing.remove", object_type="orders.order", object_id="999999", actor=admin_user)

    page = admin_client.get(reverse("admin:accounts_auditlog_changelist")).content.decode()

    assert "orders.order #999999" in page


def test_the_via_help_text_names_every_origin_the_code_writes():
    help_text = AuditLog._meta.get_field("via").help_text

    for via in ("admin", "api", "task", "bridge", "monitor", "runner", "market", "seed_demo"):
        assert via in help_text


def test_pnl_columns_read_pnl_not_pnl_lowercased():
    from orders.models import Fill, PnLPoint, Position
    from strategies.models import TradingSession

    assert Position._meta.get_field("realized_pnl").verbose_name == "realized PnL"
    assert PnLPoint._meta.get_field("unrealized_pnl").verbose_name == "unrealized PnL"
    assert Fill._meta.get_field("broker_realized_pnl").verbose_name == "broker's realized PnL"
    assert TradingSession._meta.get_field("sharpe").verbose_name == "Sharpe ratio"
