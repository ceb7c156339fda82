"""Alerts and PnL points written by the monitoring loop reach the live pages of their account."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Alert
from accounts.services import alert_raise
from orders.models import PnLPoint
from streams import live
from streams.desk_watch import DeskWatch
from streams.tests.conftest import receive_from_group

pytestmark = pytest.mark.django_db


def test_a_new_alert_and_a_new_pnl_point_are_fanned_out_once(redis_client, account):
    fanout = live.Fanout()
    try:
        watch = DeskWatch(fanout)
        alert = alert_raise(key="gateway.disconnected", kind="gateway", message="Gateway down", account=account)
        PnLPoint.objects.create(
            account=account, at=timezone.now(), realized_pnl=Decimal("5"), unrealized_pnl=Decimal("-2")
        )

        def step() -> None:
            assert watch.step() == 4  # the alert, the PnL point, its account's row, the stream figures

        messages = receive_from_group(live.account_group(account.pk), step, count=2)
        assert watch.step() == 1  # the stream figures only
    finally:
        fanout.close()
    kinds = {row["kind"]: row for message in messages for row in message["rows"]}
    assert kinds["alert"]["id"] == f"alert-{alert.pk}"
    assert kinds["pnl"]["ctx"]["pnl"] == 3.0 and kinds["pnl"]["ctx"]["account_id"] == account.pk
    # The point moves the desk's day PnL of its account (no point before today: the whole 3.00).
    assert kinds["account"]["id"] == f"account-{account.pk}" and kinds["account"]["ctx"]["daily_pnl"] == "3.00"


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
        watch = DeskWatch(fanout)
        instrument_record_price(instrument=instrument, price=Decimal("103"), at=timezone.now())
        message = receive_from_group(live.account_group(account.pk), watch.step)
        desk = receive_from_group(live.DESK_GROUP, watch.step)
    finally:
        fanout.close()
    (row,) = message["rows"]
    assert row["id"] == f"position-{position.pk}" and row["ctx"]["unrealized_pnl"] == "30.00"
    assert desk["rows"][0]["kind"] == "system" and desk["rows"][0]["ctx"]["streams"][0]["name"].endswith(":commands")


def test_a_price_that_ages_past_the_limit_refreshes_its_positions_as_stale(redis_client, account, instrument, settings):
    import time_machine

    from orders.services import instrument_record_price
    from orders.tests.factories import PositionFactory

    settings.PRICE_STALE_SECONDS = 60
    position = PositionFactory(
        account=account, instrument=instrument, quantity=Decimal("10"), average_cost=Decimal("100")
    )
    seen = timezone.now() + timedelta(seconds=1)
    instrument_record_price(instrument=instrument, price=Decimal("103"), at=seen)
    fanout = live.Fanout()
    try:
        with time_machine.travel(seen + timedelta(seconds=30), tick=False):
            watch = DeskWatch(fanout)
            assert watch.step() == 1  # nothing but the stream figures: the price is fresh
        with time_machine.travel(seen + timedelta(seconds=61), tick=False):
            message = receive_from_group(live.account_group(account.pk), watch.step)
    finally:
        fanout.close()
    (row,) = message["rows"]
    assert row["id"] == f"position-{position.pk}"
    assert row["ctx"]["price_stale"] and row["ctx"]["unrealized_pnl"] == "30.00"


def test_engaging_the_kill_switch_reaches_the_desk(redis_client, risk_manager):
    from accounts.services import kill_switch_engage

    fanout = live.Fanout()
    try:
        watch = DeskWatch(fanout)
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
        watch = DeskWatch(fanout)
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


class LateWriter:
    """A transaction in a thread of its own (its own connection) that writes, then waits to commit.

    ``start()`` returns once ``write()`` has run inside the open transaction; ``commit()`` lets it
    commit and waits for the thread to end (re-raising what it raised).
    """

    def __init__(self, write) -> None:
        import threading

        self._write = write
        self._written = threading.Event()
        self._commit = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="late-writer")

    def _run(self) -> None:
        from django.db import connection, transaction

        try:
            with transaction.atomic():
                self._write()
                self._written.set()
                self._commit.wait()
        except BaseException as error:  # handed to the test's thread by commit()
            self._error = error
        finally:
            self._written.set()
            connection.close()

    def start(self) -> None:
        self._thread.start()
        self._written.wait()
        if self._error is not None:
            raise self._error

    def commit(self) -> None:
        self._commit.set()
        self._thread.join()
        if self._error is not None:
            raise self._error


@pytest.mark.django_db(transaction=True)
def test_rows_stamped_and_numbered_before_a_step_but_committed_after_it_are_sent_once(
    redis_client, account, instrument, risk_manager
):
    """A writer holds its transaction open across a step, while a later-numbered alert commits first."""
    from accounts.services import alert_acknowledge
    from orders.services import instrument_record_price
    from orders.tests.factories import PositionFactory

    position = PositionFactory(
        account=account, instrument=instrument, quantity=Decimal("10"), average_cost=Decimal("100")
    )
    seen = alert_raise(key="stale:1", kind="order", message="Order working too long", account=account)
    fanout = live.Fanout()
    try:
        watch = DeskWatch(fanout)

        def write_late() -> None:
            alert_raise(key="gateway.disconnected", kind="gateway", message="Gateway down", account=account)
            alert_acknowledge(alert=seen, actor=risk_manager, via="admin")
            PnLPoint.objects.create(
                account=account, at=timezone.now(), realized_pnl=Decimal("5"), unrealized_pnl=Decimal("-2")
            )
            instrument_record_price(instrument=instrument, price=Decimal("103"), at=timezone.now())

        late = LateWriter(write_late)
        late.start()
        try:
            # Numbered after the late alert, committed before it.
            early = alert_raise(key="mismatch:AAPL", kind="position", message="Position mismatch", account=account)

            def step_before_commit() -> None:
                assert watch.step() == 2  # the early alert, the stream figures

            first = receive_from_group(live.account_group(account.pk), step_before_commit)
        finally:
            late.commit()

        def step_after_commit() -> None:
            assert watch.step() == 6  # two alerts, the PnL point, its account, the position, the stream figures

        second = receive_from_group(live.account_group(account.pk), step_after_commit, count=4)
        assert watch.step() == 1  # the stream figures only: nothing is sent twice
    finally:
        fanout.close()
    assert [row["id"] for row in first["rows"]] == [f"alert-{early.pk}"]
    late_alert = Alert.objects.get(key="gateway.disconnected")
    assert late_alert.pk < early.pk  # ids are not in commit order
    rows = {row["id"]: row for message in second for row in message["rows"]}
    point = PnLPoint.objects.get()
    assert set(rows) == {
        f"alert-{late_alert.pk}",
        f"alert-{seen.pk}",
        f"pnl-{account.pk}-{point.pk}",
        f"account-{account.pk}",
        f"position-{position.pk}",
    }
    assert rows[f"alert-{seen.pk}"]["ctx"]["status"] == "acknowledged"
    assert rows[f"position-{position.pk}"]["ctx"]["unrealized_pnl"] == "30.00"


@pytest.mark.django_db(transaction=True)
def test_an_alert_written_while_the_watch_starts_is_followed_once_its_writer_commits(
    redis_client, account, risk_manager
):
    """The watch takes rows in flight at its start as shown, then sends their later changes."""
    from accounts.services import alert_acknowledge

    late = LateWriter(lambda: alert_raise(key="gateway.disconnected", kind="gateway", message="Down", account=account))
    late.start()
    fanout = live.Fanout()
    try:
        try:
            watch = DeskWatch(fanout)
        finally:
            late.commit()
        assert watch.step() == 1  # taken as shown: the stream figures only
        alert = alert_acknowledge(alert=Alert.objects.get(), actor=risk_manager, via="admin")
        message = receive_from_group(live.account_group(account.pk), watch.step)
    finally:
        fanout.close()
    (row,) = message["rows"]
    assert row["id"] == f"alert-{alert.pk}" and row["ctx"]["status"] == "acknowledged"


def test_the_kill_switch_turns_every_account_badge_to_halted_and_back(
    redis_client, account, other_account, risk_manager
):
    from django.template.loader import render_to_string

    from accounts.services import kill_switch_engage, kill_switch_release

    def badge(row: dict) -> str:
        html = render_to_string("streams/rows/account.html", {"row": row["ctx"]})
        return html.split('class="badge ', 1)[1].split("</span>", 1)[0]

    fanout = live.Fanout()
    try:
        watch = DeskWatch(fanout)

        def step() -> None:
            assert watch.step() == 4  # both accounts, the switch, the stream figures

        kill_switch_engage(actor=risk_manager, reason="Fat finger", via="admin")
        engaged = receive_from_group(live.account_group(other_account.pk), step)
        kill_switch_release(actor=risk_manager, via="admin")
        released = receive_from_group(live.account_group(other_account.pk), step)
    finally:
        fanout.close()
    (row,) = engaged["rows"]
    assert row["id"] == f"account-{other_account.pk}" and row["ctx"]["halted"]
    assert badge(row) == 'bad" title="kill switch: Fat finger">halted'
    (row,) = released["rows"]
    assert not row["ctx"]["halted"] and badge(row) == 'ok">trading'


def test_a_step_that_fails_leaves_its_rows_to_the_next_step(redis_client, account):
    class FailingOnce(live.Fanout):
        """A fan-out whose first send fails, as when Redis or the channel layer went away."""

        failed = False

        def send(self, group, rows, **kwargs):
            if not self.failed:
                self.failed = True
                raise ConnectionError("channel layer gone")
            super().send(group, rows, **kwargs)

    fanout = FailingOnce()
    try:
        watch = DeskWatch(fanout)
        alert = alert_raise(key="gateway.disconnected", kind="gateway", message="Gateway down", account=account)
        point = PnLPoint.objects.create(
            account=account, at=timezone.now(), realized_pnl=Decimal("5"), unrealized_pnl=Decimal("-2")
        )
        with pytest.raises(ConnectionError):
            watch.step()

        def step() -> None:
            assert watch.step() == 4  # the alert, the PnL point, its account's row, the stream figures

        messages = receive_from_group(live.account_group(account.pk), step, count=2)
    finally:
        fanout.close()
    assert {row["id"] for message in messages for row in message["rows"]} == {
        f"alert-{alert.pk}",
        f"pnl-{account.pk}-{point.pk}",
        f"account-{account.pk}",
    }
