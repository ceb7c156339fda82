"""Every service's change reaches the groups of the pages that show it when its transaction commits."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import account_halt, alert_acknowledge, alert_raise, kill_switch_engage, kill_switch_release
from orders.models import PnLPoint
from orders.services import instrument_record_price
from orders.tests.factories import PositionFactory
from strategies.models import TradingSession
from strategies.services import trading_session_start
from strategies.tests.factories import StrategyFactory, TradingSessionFactory
from streams import live, publish
from streams.tests.harness import commit, receive_from_group

pytestmark = pytest.mark.django_db


def committed(action):
    """``action``, then its commit (the test's own transaction never commits)."""

    def run() -> None:
        action()
        commit()

    return run


def rows_of(message: dict) -> dict[str, dict]:
    return {row["kind"]: row["ctx"] for row in message["rows"]}


@pytest.fixture(autouse=True)
def _setup_committed(sender):
    """What the fixtures announced goes out first, so each test receives only its own change."""
    commit()


def test_an_order_entered_reaches_its_accounts_pages_when_it_commits_and_not_before(redis_client, submit, account):
    group = live.account_group(account.pk)
    entered = {}

    def enter() -> None:
        before = live.cursor([group])[group]
        entered["order"] = submit()
        entered["sent_before_commit"] = live.cursor([group])[group] - before
        commit()

    shown = rows_of(receive_from_group(group, enter))
    assert entered["sent_before_commit"] == 0
    assert shown["order"]["pk"] == entered["order"].pk and shown["order"]["status"] == entered["order"].status
    assert shown["account"]["pk"] == account.pk and shown["account"]["open_orders"] == 1


def test_a_trading_session_start_reaches_its_accounts_pages(redis_client, account, risk_manager):
    session = TradingSessionFactory(account=account, strategy=StrategyFactory(enabled=True))
    commit()
    message = receive_from_group(
        live.account_group(account.pk), committed(lambda: trading_session_start(session=session, actor=None, via="api"))
    )
    shown = rows_of(message)
    assert shown["session"]["pk"] == session.pk and shown["session"]["status"] == TradingSession.Status.RUNNING


def test_the_kill_switch_reaches_the_desk_and_every_accounts_badge_both_ways(
    redis_client, account, other_account, risk_manager
):
    desk = rows_of(
        receive_from_group(
            live.DESK_GROUP, committed(lambda: kill_switch_engage(actor=risk_manager, reason="Fat finger", via="api"))
        )
    )
    assert desk["killswitch"]["engaged"] and desk["killswitch"]["reason"] == "Fat finger"
    released = rows_of(
        receive_from_group(
            live.account_group(other_account.pk), committed(lambda: kill_switch_release(actor=risk_manager, via="api"))
        )
    )
    assert released["account"]["pk"] == other_account.pk and not released["account"]["halted"]
    engaged = rows_of(
        receive_from_group(
            live.account_group(other_account.pk),
            committed(lambda: kill_switch_engage(actor=risk_manager, reason="Again", via="admin")),
        )
    )
    assert engaged["account"]["halted"] and engaged["account"]["kill_switch_reason"] == "Again"


def test_an_account_halt_reaches_its_accounts_pages(redis_client, account, risk_manager):
    message = receive_from_group(
        live.account_group(account.pk),
        committed(lambda: account_halt(account=account, actor=risk_manager, reason="Runaway", via="admin")),
    )
    shown = rows_of(message)
    assert shown["account"]["halted"] and shown["account"]["halted_reason"] == "Runaway"


def test_an_alert_the_monitor_raises_and_a_person_acknowledges_reaches_the_pages(redis_client, account, risk_manager):
    group = live.account_group(account.pk)
    raised = {}

    def raise_alert() -> None:
        raised["alert"] = alert_raise(key="gateway.down", kind="gateway", message="Gateway down", account=account)
        commit()

    assert rows_of(receive_from_group(group, raise_alert))["alert"]["status"] == "open"
    acknowledged = receive_from_group(
        group, committed(lambda: alert_acknowledge(alert=raised["alert"], actor=risk_manager, via="admin"))
    )
    assert rows_of(acknowledged)["alert"]["status"] == "acknowledged"


def test_a_pnl_point_sends_the_chart_its_point_and_the_desk_its_accounts_day_pnl(redis_client, account):
    point = PnLPoint.objects.create(
        account=account, at=timezone.now(), realized_pnl=Decimal("5"), unrealized_pnl=Decimal("-2")
    )
    message = receive_from_group(
        live.account_group(account.pk), lambda: publish.publish({("orders.pnlpoint", point.pk): None})
    )
    assert [row["kind"] for row in message["rows"]] == ["account", "pnl"]
    assert rows_of(message)["pnl"]["pnl"] == 3.0


def test_a_recorded_price_revalues_the_open_positions_in_its_instrument(redis_client, account, instrument):
    position = PositionFactory(
        account=account, instrument=instrument, quantity=Decimal("10"), average_cost=Decimal("100")
    )
    message = receive_from_group(
        live.account_group(account.pk),
        committed(lambda: instrument_record_price(instrument=instrument, price=Decimal("103"), at=timezone.now())),
    )
    (row,) = message["rows"]
    assert row["id"] == f"position-{position.pk}" and row["ctx"]["unrealized_pnl"] == "30.00"


def test_announcements_carry_the_producer_time_of_the_event_behind_them(redis_client, account, risk_manager):
    from accounts.announce import stamped

    def halt() -> None:
        with stamped(1_700_000_000_000_000_000):
            account_halt(account=account, actor=risk_manager, reason="Runaway", via="bridge")
        commit()

    message = receive_from_group(live.account_group(account.pk), halt)
    assert message["src_ts"] == 1_700_000_000_000_000_000


def test_the_monitors_valuation_of_a_running_session_reaches_its_accounts_pages(redis_client, account, instrument):
    from orders.monitoring.pnl import sessions_update
    from orders.tests.factories import FillFactory, OrderFactory

    session = TradingSessionFactory(
        account=account, strategy=StrategyFactory(enabled=True), status=TradingSession.Status.RUNNING
    )
    order = OrderFactory(account=account, instrument=instrument, trading_session=session, quantity=Decimal("10"))
    FillFactory(order=order, account=account, instrument=instrument, quantity=Decimal("10"), price=Decimal("100"))
    instrument.last_price = Decimal("103")
    instrument.save(update_fields=["last_price"])
    commit()
    message = receive_from_group(live.account_group(account.pk), committed(lambda: sessions_update(now=timezone.now())))
    assert rows_of(message)["session"]["unrealized_pnl"] == "30.00"


def test_a_fill_correction_sends_the_rebuilt_position(redis_client, account, instrument):
    from orders.services import fill_record
    from orders.services.fill_corrections import fill_correct

    executed = timezone.now()
    fill = fill_record(
        exec_id="0000e0d5.00000001.01.01",
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("10"),
        price=Decimal("100"),
        executed_at=executed,
    )
    group = live.account_group(account.pk)
    assert rows_of(receive_from_group(group, commit))["position"]["quantity"] == "10"
    corrected = {"exec_id": "0000e0d5.00000001.01.02", "quantity": Decimal("4"), "price": Decimal("100")}
    correct = committed(lambda: fill_correct(fill=fill, executed_at=executed, **corrected))
    assert rows_of(receive_from_group(group, correct))["position"]["quantity"] == "4"
