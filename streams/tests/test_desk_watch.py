"""What changes with time alone reaches the pages from the desk watch: prices turning stale, stream figures."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from orders.services import instrument_record_price
from orders.tests.factories import PositionFactory
from streams import live
from streams.desk_watch import DeskWatch
from streams.tests.harness import receive_from_group

pytestmark = pytest.mark.django_db


@pytest.fixture
def priced_position(account, instrument, settings):
    """A position of 10 at 100 in an instrument priced at 103 one second from now (stale after 60 s)."""
    settings.PRICE_STALE_SECONDS = 60
    position = PositionFactory(
        account=account, instrument=instrument, quantity=Decimal("10"), average_cost=Decimal("100")
    )
    seen = timezone.now() + timedelta(seconds=1)
    instrument_record_price(instrument=instrument, price=Decimal("103"), at=seen)
    return position, seen


def test_the_stream_figures_go_to_the_desk_at_every_step(redis_client):
    fanout = live.Fanout()
    try:
        desk = receive_from_group(live.DESK_GROUP, DeskWatch(fanout).step)
    finally:
        fanout.close()
    (row,) = desk["rows"]
    assert row["kind"] == "system" and row["ctx"]["streams"][0]["name"].endswith(":commands")


def test_a_price_that_ages_past_the_limit_refreshes_its_positions_as_stale(redis_client, account, priced_position):
    position, seen = priced_position
    fanout = live.Fanout()
    try:
        with time_machine.travel(seen + timedelta(seconds=30), tick=False):
            watch = DeskWatch(fanout)
            assert watch.step() == 1  # nothing but the stream figures: the price is fresh
        with time_machine.travel(seen + timedelta(seconds=61), tick=False):
            message = receive_from_group(live.account_group(account.pk), watch.step)
            assert watch.step() == 1  # stale already sent: only the stream figures again
    finally:
        fanout.close()
    (row,) = message["rows"]
    assert row["id"] == f"position-{position.pk}"
    assert row["ctx"]["price_stale"] and row["ctx"]["unrealized_pnl"] == "30.00"


def test_a_step_that_fails_leaves_its_rows_to_the_next_step(redis_client, account, priced_position):
    class FailingOnce(live.Fanout):
        """A fan-out whose first send fails, as when Redis or the channel layer went away."""

        failed = False

        def send(self, group, rows, **kwargs):
            if not self.failed:
                self.failed = True
                raise ConnectionError("channel layer gone")
            return super().send(group, rows, **kwargs)

    position, seen = priced_position
    fanout = FailingOnce()
    try:
        with time_machine.travel(seen + timedelta(seconds=30), tick=False):
            watch = DeskWatch(fanout)
        with time_machine.travel(seen + timedelta(seconds=61), tick=False):
            with pytest.raises(ConnectionError):
                watch.step()
            message = receive_from_group(live.account_group(account.pk), watch.step)
    finally:
        fanout.close()
    assert [row["id"] for row in message["rows"]] == [f"position-{position.pk}"]
