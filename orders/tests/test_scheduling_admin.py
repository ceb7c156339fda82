"""The scheduled-order admin: the next firings, the dry run, pause and resume."""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import Order, ScheduledOrder

pytestmark = pytest.mark.django_db


@pytest.fixture
def schedule(account, instrument):
    return ScheduledOrder.objects.create(
        name="open buy",
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("10"),
        order_type="MKT",
        time_of_day=time(9, 35),
    )


def test_the_changelist_shows_each_schedules_next_firing_in_its_own_time_zone(admin_client, schedule):
    response = admin_client.get(reverse("admin:orders_scheduledorder_changelist"))

    assert response.status_code == 200
    assert "09:35 E" in response.content.decode()  # EST or EDT, whichever the next firing falls in


def test_the_change_page_lists_the_next_five_firings(admin_client, schedule):
    response = admin_client.get(reverse("admin:orders_scheduledorder_change", args=[schedule.pk]))

    assert response.status_code == 200
    assert response.content.decode().count("09:35 E") == 5


def test_the_dry_run_action_reports_the_firings_and_the_verdict_and_creates_no_order(admin_client, schedule):
    response = admin_client.post(
        reverse("admin:orders_scheduledorder_changelist"),
        {"action": "dry_run_schedules", "_selected_action": [schedule.pk]},
        follow=True,
    )

    text = response.content.decode()
    assert "next firings" in text and "would be accepted now" in text
    assert not Order.objects.exists()


def test_the_pause_action_pauses_through_the_service(admin_client, schedule):
    admin_client.post(
        reverse("admin:orders_scheduledorder_changelist"),
        {"action": "pause_schedules", "_selected_action": [schedule.pk]},
        follow=True,
    )

    schedule.refresh_from_db()
    assert not schedule.enabled
