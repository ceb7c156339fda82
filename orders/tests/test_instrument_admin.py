"""The instrument admin adds, edits and retires instruments through the audited services only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from orders.models import Instrument

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:orders_instrument_add")
LIST_URL = reverse("admin:orders_instrument_changelist")


def instrument_form(**fields) -> dict:
    return {
        "symbol": "MSFT",
        "sec_type": "STK",
        "exchange": "SMART",
        "primary_exchange": "NASDAQ",
        "currency": "USD",
        "con_id": "272093",
        "min_tick": "0.01",
        "multiplier": "1",
        "min_quantity": "1",
        "quantity_increment": "1",
        "description": "",
        "active": "on",
        **fields,
    }


def test_adding_an_instrument_in_the_admin_writes_its_audit_row(admin_client):
    assert admin_client.post(ADD_URL, instrument_form(symbol="msft")).status_code == 302
    instrument = Instrument.objects.get(con_id=272093)
    assert instrument.symbol == "MSFT"
    audit = AuditLog.objects.get()
    assert (audit.action, audit.via, audit.object_id) == ("instrument.create", "admin", str(instrument.pk))


def test_editing_an_instrument_in_the_admin_audits_the_change(admin_client, instrument):
    url = reverse("admin:orders_instrument_change", args=[instrument.pk])
    response = admin_client.post(url, instrument_form(symbol="AAPL", con_id="265598", description="Apple Inc."))
    assert response.status_code == 302
    instrument.refresh_from_db()
    assert instrument.description == "Apple Inc."
    audit = AuditLog.objects.get()
    assert (audit.action, audit.via, audit.after) == ("instrument.update", "admin", {"description": "Apple Inc."})


def test_retiring_an_instrument_from_the_list_is_audited(admin_client, instrument):
    admin_client.post(LIST_URL, {"action": "deactivate_instruments", "_selected_action": [instrument.pk]})
    instrument.refresh_from_db()
    assert not instrument.active
    audit = AuditLog.objects.get()
    assert (audit.action, audit.via) == ("instrument.deactivate", "admin")


def test_a_trader_cannot_add_instruments(client, trader):
    client.force_login(trader)
    assert client.post(ADD_URL, instrument_form()).status_code == 403
    assert not Instrument.objects.exists()
