"""Alerts and PnL points written by the monitoring loop reach the live pages of their account."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import alert_raise
from orders.models import PnLPoint
from streams import live
from streams.desk_watch import DeskWatch
from streams.tests.conftest import receive_from_group

pytestmark = pytest.mark.django_db


def test_a_new_alert_and_a_new_pnl_point_are_fanned_out_once(redis_client, account):
    fanout = live.Fanout()
    try:
        watch = DeskWatch(fanout, since=timezone.now() - timedelta(seconds=1))
        alert = alert_raise(key="gateway.disconnected", kind="gateway", message="Gateway down", account=account)
        PnLPoint.objects.create(
            account=account, at=timezone.now(), realized_pnl=Decimal("5"), unrealized_pnl=Decimal("-2")
        )

        def step() -> None:
            assert watch.step() == 2

        messages = receive_from_group(live.account_group(account.pk), step, count=2)
        assert watch.step() == 0
    finally:
        fanout.close()
    kinds = {row["kind"]: row for message in messages for row in message["rows"]}
    assert kinds["alert"]["id"] == f"alert-{alert.pk}"
    assert kinds["pnl"]["ctx"]["pnl"] == 3.0 and kinds["pnl"]["ctx"]["account_id"] == account.pk
