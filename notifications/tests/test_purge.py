"""Retention of deliveries: those that ended long ago go, those still in flight stay whatever their age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from notifications.models import Delivery
from notifications.services import deliveries_purge
from notifications.tests.factories import ChannelFactory
from tradeconsole.celery import beat_schedule

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 3, 4, 14, 0, tzinfo=UTC)


def delivery_made(channel, status: str, *, days_ago: float) -> Delivery:
    with time_machine.travel(NOW - timedelta(days=days_ago), tick=False):
        return Delivery.objects.create(channel=channel, event="raised", recipient=channel.target, status=status)


def test_ended_deliveries_older_than_the_retention_go_and_the_rest_stay(settings):
    settings.NOTIFICATIONS_DELIVERY_DAYS = 30
    channel = ChannelFactory()
    old = [delivery_made(channel, status, days_ago=31) for status in ("sent", "failed", "rate_limited")]
    in_flight = [delivery_made(channel, status, days_ago=90) for status in ("queued", "retrying")]
    recent = delivery_made(channel, "sent", days_ago=29)

    with time_machine.travel(NOW, tick=False):
        assert deliveries_purge() == len(old)
        assert deliveries_purge() == 0

    kept = set(Delivery.objects.values_list("pk", flat=True))
    assert kept == {d.pk for d in [*in_flight, recent]}


def test_beat_purges_deliveries_with_the_housekeeping():
    schedule = beat_schedule(scheduler_tick=2, monitor_interval=5, housekeeping_interval=3600)

    assert schedule["notifications-purge"]["task"] == "notifications.tasks.deliveries_purge"
    assert schedule["notifications-purge"]["schedule"] == 3600
