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
            assert watch.step() == 3  # the alert, the PnL point, the stream figures

        messages = receive_from_group(live.account_group(account.pk), step, count=2)
        assert watch.step() == 1  # the stream figures only
    finally:
        fanout.close()
    kinds = {row["kind"]: row for message in messages for row in message["rows"]}
    assert kinds["alert"]["id"] == f"alert-{alert.pk}"
    assert kinds["pnl"]["ctx"]["pnl"] == 3.0 and kinds["pnl"]["ctx"]["account_id"] == account.pk


def test_a_price_move_refreshes_the_positions_in_that_instrument_and_stream_figures_go_to_the_desk(
    redis_client, account, instrument
):
    from orders.services import instrument_record_price
    from orders.tests.factories import PositionFactory

    position = PositionFactory(
        account=account, instrument=instrument, quantity=Decimal("10"), average_cost=Decimal("100")
    )
    fanout = live.Fanout()
    try:
        watch = DeskWatch(fanout, since=timezone.now() - timedelta(seconds=1))
        instrument_record_price(instrument=instrument, price=Decimal("103"), at=timezone.now())
        message = receive_from_group(live.account_group(account.pk), watch.step)
        desk = receive_from_group(live.DESK_GROUP, watch.step)
    finally:
        fanout.close()
    (row,) = message["rows"]
    assert row["id"] == f"position-{position.pk}" and row["ctx"]["unrealized_pnl"] == "30.00"
    assert desk["rows"][0]["kind"] == "system" and desk["rows"][0]["ctx"]["streams"][0]["name"].endswith(":commands")


def test_engaging_the_kill_switch_reaches_the_desk(redis_client, risk_manager):
    from accounts.services import kill_switch_engage

    fanout = live.Fanout()
    try:
        watch = DeskWatch(fanout, since=timezone.now() - timedelta(seconds=1))
        kill_switch_engage(actor=risk_manager, reason="Fat finger", via="admin")
        message = receive_from_group(live.DESK_GROUP, watch.step)
    finally:
        fanout.close()
    row = next(row for row in message["rows"] if row["kind"] == "killswitch")
    assert row["id"] == "kill-switch" and row["ctx"]["engaged"] and row["ctx"]["reason"] == "Fat finger"


def test_a_kill_switch_change_committed_after_its_stamp_left_the_window_still_reaches_the_desk(
    redis_client, risk_manager
):
    """Engaging stamps changed_at, then cancels and halts, then commits: a step may run in between."""
    from accounts.models import KillSwitch
    from accounts.services import kill_switch_engage

    fanout = live.Fanout()
    try:
        watch = DeskWatch(fanout, since=timezone.now() - timedelta(seconds=1))
        kill_switch_engage(actor=risk_manager, reason="Fat finger", via="admin")
        # As if committed late: its stamp is already behind the window of the next step.
        KillSwitch.objects.update(changed_at=timezone.now() - timedelta(seconds=30))
        message = receive_from_group(live.DESK_GROUP, watch.step)
        again = receive_from_group(live.DESK_GROUP, watch.step)
    finally:
        fanout.close()
    row = next(row for row in message["rows"] if row["kind"] == "killswitch")
    assert row["ctx"]["engaged"] and row["ctx"]["reason"] == "Fat finger"
    assert [row["kind"] for row in again["rows"]] == ["system"]  # sent once
