"""The scheduled-order admin creates and edits schedules through the audited services only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from orders.models import ScheduledOrder

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:orders_scheduledorder_add")


def schedule_form(account, instrument, **fields) -> dict:
    form = {
        "name": "Open AAPL",
        "account": str(account.pk),
        "instrument": str(instrument.pk),
        "side": "BUY",
        "quantity": "10",
        "order_type": "MKT",
        "limit_price": "",
        "stop_price": "",
        "tif": "DAY",
        "strategy": "",
        "time_of_day": "09:35:00",
        "time_zone": "America/New_York",
        "weekdays": "0,1,2,3,4",
        "valid_from": "",
        "valid_until": "",
        "exchange_calendar": "XNYS",
        "grace_seconds": "60",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
        "runs-MIN_NUM_FORMS": "0",
        "runs-MAX_NUM_FORMS": "1000",
    }
    form.update(fields)
    return form


def test_adding_a_schedule_in_the_admin_writes_its_audit_row(admin_client, admin_user, account, instrument):
    response = admin_client.post(ADD_URL, schedule_form(account, instrument))
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule = ScheduledOrder.objects.get()
    assert (schedule.created_by, schedule.enabled) == (admin_user, True)
    audit = AuditLog.objects.get()
    assert (audit.action, audit.via, audit.object_id) == ("scheduled_order.create", "admin", str(schedule.pk))


def test_a_schedule_the_service_refuses_shows_the_reason_and_leaves_no_rows(admin_client, account, instrument):
    response = admin_client.post(ADD_URL, schedule_form(account, instrument, order_type="LMT"), follow=True)
    assert "order.limit_price_required" in response.content.decode()
    assert not ScheduledOrder.objects.exists()
    assert not AuditLog.objects.exists()


def test_editing_a_schedule_in_the_admin_audits_the_change(admin_client, account, instrument):
    admin_client.post(ADD_URL, schedule_form(account, instrument))
    schedule = ScheduledOrder.objects.get()
    url = reverse("admin:orders_scheduledorder_change", args=[schedule.pk])
    response = admin_client.post(url, schedule_form(account, instrument, quantity="25"))
    assert response.status_code == 302, response.content.decode()[:2000]
    schedule.refresh_from_db()
    assert schedule.quantity == 25
    assert AuditLog.objects.filter(action="scheduled_order.update", via="admin").count() == 1
