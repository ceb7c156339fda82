"""Titles and messages a person reads are in the desk's time zone, as every table beside them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine

from accounts.models import Alert, AuditLog, ProcessHeartbeat
from orders import monitoring
from orders.models import PnLPoint

pytestmark = pytest.mark.django_db

# 09:30:15 in New York (the desk's zone in the test settings) is 14:30:15 UTC.
MOMENT = datetime(2026, 3, 2, 14, 30, 15, tzinfo=UTC)


def test_the_audit_logs_titles_are_in_the_desks_time_zone(account):
    with time_machine.travel(MOMENT, tick=False):
        entry = AuditLog.objects.create(action="account.halt", object_type="BrokerAccount", object_id=str(account.pk))
    assert str(entry) == f"2026-03-02 09:30:15 account.halt BrokerAccount#{account.pk}"


def test_pnl_points_and_heartbeats_are_titled_in_the_desks_time_zone(account):
    point = PnLPoint(account=account, at=MOMENT, realized_pnl=Decimal("1"), unrealized_pnl=Decimal("2"))
    beat = ProcessHeartbeat(name="bridge", state="running", last_seen_at=MOMENT)
    assert str(point) == f"{account} 2026-03-02 09:30 3"
    assert str(beat) == "bridge running @ 09:30:15"


def test_a_missing_heartbeats_alert_says_when_it_was_last_seen_on_the_desks_clock(account):
    ProcessHeartbeat.objects.update_or_create(name="bridge", defaults={"last_seen_at": MOMENT, "state": "running"})
    with time_machine.travel(MOMENT.replace(minute=40), tick=False):
        monitoring.system_alerts(now=MOMENT.replace(minute=40), report=monitoring.MonitoringReport())
    alert = Alert.objects.get(key="heartbeat.missing:bridge")
    assert "last seen 09:30:15)" in alert.message and "UTC" not in alert.message
