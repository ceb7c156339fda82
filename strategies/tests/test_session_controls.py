"""Trading sessions' modes and controls: opening one (validation, approval), pause and stop with a
reason, a broker session's flatten on stop, and the runner's own pause and stop."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Alert, AuditLog, OutboxMessage
from accounts.services import account_halt
from orders.exceptions import InstrumentUnknown
from orders.models import Order, OrderStatus
from orders.services import fill_record, order_submit
from orders.tests.factories import InstrumentFactory
from strategies.exceptions import (
    TradingSessionInvalid,
    TradingSessionTransitionRefused,
    TradingSessionVersionNotApproved,
)
from strategies.models import TradingSession
from strategies.services import (
    session_flatten_client_order_id,
    session_net_position,
    strategy_version_approve,
    strategy_version_save,
    trading_session_create,
    trading_session_pause,
    trading_session_pause_self,
    trading_session_resume,
    trading_session_start,
    trading_session_stop,
    trading_session_stop_self,
)
from strategies.tests.factories import StrategyFactory, TradingSessionFactory, template_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def approved(ema_version, risk_manager):
    """The EMA crossover version, approved by a Risk manager for broker sessions."""
    return strategy_version_approve(actor=risk_manager, version=ema_version, via="test")


def open_session(*, account, version, instrument, actor=None, strategy=None, **fields) -> TradingSession:
    """Open a session of ``version`` through the service (a forward test with 100,000 unless told)."""
    values = {"mode": "forward", "starting_equity": "100000", **fields}
    return trading_session_create(
        strategy=strategy or version.strategy,
        account=account,
        actor=actor,
        version=version,
        instrument=instrument,
        via="test",
        **values,
    )


def broker_session(*, account, version, instrument, actor=None) -> TradingSession:
    """A broker session of ``version`` on ``instrument``, opened by the desk and started by ``actor``."""
    session = open_session(account=account, version=version, instrument=instrument, mode="broker")
    return trading_session_start(session=session, actor=actor, via="test")


def session_fill(session, *, side: str, quantity: int, exec_id: str) -> None:
    """A filled order of the session: entered as the strategy would, filled at 100."""
    order = order_submit(
        actor=None,
        account=session.account,
        instrument=session.instrument,
        side=side,
        quantity=quantity,
        order_type="MKT",
        source="strategy",
        trading_session=session,
        via="test",
    )
    fill_record(
        exec_id=exec_id,
        account=session.account,
        instrument=session.instrument,
        side=side,
        quantity=quantity,
        price=Decimal("100"),
        executed_at=timezone.now() - timedelta(minutes=1),
        order=order,
    )


# --- opening a session -----------------------------------------------------------------------------


def test_a_forward_session_keeps_every_field_it_was_opened_with_and_audits_them(session_opener, account, ema_version):
    InstrumentFactory(symbol="MSFT")
    session = open_session(
        account=account,
        version=ema_version,
        instrument="msft",
        actor=session_opener,
        resolution="5",
        fee_model="tiered",
        slippage_model="ticks",
        slippage_amount="2",
        max_position="300",
        max_daily_loss="2500",
        starting_equity="50000",
    )
    session.refresh_from_db()
    assert (session.mode, session.version, session.instrument.symbol, session.resolution) == (
        "forward",
        ema_version,
        "MSFT",
        "5",
    )
    assert (session.fee_model, session.slippage_model, session.slippage_amount) == ("tiered", "ticks", Decimal("2"))
    assert (session.max_position, session.max_daily_loss, session.starting_equity) == (
        300,
        Decimal("2500"),
        Decimal("50000"),
    )
    audit = AuditLog.objects.get(action="trading_session.create")
    assert audit.after == {
        "strategy": ema_version.strategy.name,
        "account": account.code,
        "status": "pending",
        "starting_equity": "50000.0000",
        "mode": "forward",
        "version": 1,
        "instrument": "MSFT",
        "resolution": "5",
        "fee_model": "tiered",
        "slippage_model": "ticks",
        "slippage_amount": "2.0000",
        "max_position": 300,
        "max_daily_loss": "2500.0000",
    }


def test_a_broker_session_of_an_unapproved_version_is_refused(account, instrument, ema_version):
    with pytest.raises(TradingSessionVersionNotApproved) as refused:
        open_session(account=account, version=ema_version, instrument=instrument, mode="broker")
    assert refused.value.code == "trading_session.version_not_approved"
    assert (TradingSession.objects.count(), AuditLog.objects.filter(action="trading_session.create").count()) == (0, 0)


def test_a_broker_session_of_an_approved_version_opens_without_an_equity_and_starts_from_net_liquidation(
    account, instrument, approved
):
    from accounts.services import account_values_update

    account_values_update(
        account=account, values={"NetLiquidation": "250000"}, currency="USD", reported_at=timezone.now()
    )
    session = open_session(
        account=account, version=approved, instrument=instrument, mode="broker", starting_equity=None
    )
    assert session.starting_equity is None
    session = trading_session_start(session=session, actor=None, via="test")
    assert (session.status, session.starting_equity) == ("running", Decimal("250000"))


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"mode": "live"}, "mode"),
        ({"starting_equity": None}, "starting_equity"),
        ({"starting_equity": "0"}, "starting_equity"),
        ({"starting_equity": "lots"}, "starting_equity"),
        ({"starting_equity": "1e13"}, "starting_equity"),
        ({"starting_equity": "Infinity"}, "starting_equity"),
        ({"resolution": "7"}, "resolution"),
        ({"fee_model": "flat"}, "fee_model"),
        ({"slippage_model": "percent"}, "slippage_model"),
        ({"slippage_model": "ticks", "slippage_amount": "-1"}, "slippage_model"),
        ({"slippage_amount": "much"}, "slippage_amount"),
        ({"slippage_model": "bps", "slippage_amount": "999999.99999"}, "slippage_amount"),
        ({"max_position": "0"}, "max_position"),
        ({"max_position": "1.5"}, "max_position"),
        ({"max_daily_loss": "0"}, "max_daily_loss"),
        ({"max_daily_loss": "-100"}, "max_daily_loss"),
        ({"max_daily_loss": "0.00001"}, "max_daily_loss"),
        ({"max_daily_loss": "1e30"}, "max_daily_loss"),
        ({"instrument": None}, "instrument"),
        ({"version": None}, "version"),
    ],
)
def test_a_session_with_a_wrong_field_is_refused_naming_the_field(account, instrument, ema_version, fields, field):
    values = {"account": account, "version": ema_version, "instrument": instrument, "strategy": ema_version.strategy}
    values.update(fields)
    with pytest.raises(TradingSessionInvalid) as refused:
        open_session(**values)
    assert (refused.value.code, refused.value.field) == ("trading_session.invalid", field)
    assert not TradingSession.objects.exists()


def test_a_session_runs_a_version_of_its_own_strategy_on_a_known_active_instrument(account, instrument, ema_version):
    other = strategy_version_save(
        actor=None, strategy=StrategyFactory(), graph=template_graph("ema_crossover"), via="t"
    )
    with pytest.raises(TradingSessionInvalid) as refused:
        trading_session_create(
            strategy=ema_version.strategy,
            account=account,
            actor=None,
            version=other,
            instrument=instrument,
            starting_equity="1000",
            via="test",
        )
    assert refused.value.field == "version"
    with pytest.raises(InstrumentUnknown):
        open_session(account=account, version=ema_version, instrument="NOSUCH")
    with pytest.raises(TradingSessionInvalid) as refused:
        open_session(account=account, version=ema_version, instrument=InstrumentFactory(symbol="OLD", active=False))
    assert refused.value.field == "instrument"
    assert not TradingSession.objects.exists()


def test_start_and_resume_check_a_broker_sessions_approval_again(trader, account, instrument, ema_version):
    # Written directly: the service would not open them; sessions from before approvals existed may.
    pending = TradingSessionFactory(account=account, strategy=ema_version.strategy, version=ema_version, mode="broker")
    paused = TradingSessionFactory(
        account=account, strategy=ema_version.strategy, version=ema_version, mode="broker", status="paused"
    )
    with pytest.raises(TradingSessionVersionNotApproved):
        trading_session_start(session=pending, actor=trader, via="test")
    with pytest.raises(TradingSessionVersionNotApproved):
        trading_session_resume(session=paused, actor=trader, via="test")
    assert list(TradingSession.objects.order_by("id").values_list("status", flat=True)) == ["pending", "paused"]


# --- pause and stop with a reason --------------------------------------------------------------------


def test_a_pause_keeps_its_reason_until_the_session_resumes(trader, account, instrument, ema_version):
    session = open_session(account=account, version=ema_version, instrument=instrument)
    trading_session_start(session=session, actor=trader, via="test")
    session = trading_session_pause(session=session, actor=trader, via="test", reason="  Earnings at noon ")
    assert (session.status, session.status_reason) == ("paused", "Earnings at noon")
    audit = AuditLog.objects.get(action="trading_session.pause")
    assert (audit.before, audit.after) == (
        {"status": "running", "status_reason": ""},
        {"status": "paused", "status_reason": "Earnings at noon"},
    )
    session = trading_session_resume(session=session, actor=trader, via="test")
    session.refresh_from_db()
    assert (session.status, session.status_reason) == ("running", "")


def test_a_reason_longer_than_the_column_is_refused(trader, account):
    session = TradingSessionFactory(account=account, status="running")
    with pytest.raises(TradingSessionInvalid) as refused:
        trading_session_stop(session=session, actor=trader, via="test", reason="x" * 201)
    assert refused.value.field == "reason"
    session.refresh_from_db()
    assert session.status == "running"


def test_a_forward_stop_records_the_flatten_flag_and_places_no_order(trader, account, instrument, ema_version):
    session = open_session(account=account, version=ema_version, instrument=instrument)
    trading_session_start(session=session, actor=trader, via="test")
    session = trading_session_stop(session=session, actor=trader, via="test", reason="Done for the day", flatten=True)
    session.refresh_from_db()
    assert (session.status, session.status_reason, session.flatten_on_stop) == ("stopped", "Done for the day", True)
    assert session.stopped_at is not None
    assert not Order.objects.exists()
    audit = AuditLog.objects.get(action="trading_session.stop")
    assert audit.after == {"status": "stopped", "status_reason": "Done for the day", "flatten_on_stop": True}


# --- a broker session's flatten ----------------------------------------------------------------------


def test_a_broker_flatten_cancels_working_orders_and_closes_the_net_position_once(
    trader, account, instrument, approved
):
    session = broker_session(account=account, version=approved, instrument=instrument, actor=trader)
    session_fill(session, side="BUY", quantity=50, exec_id="e1")
    session_fill(session, side="SELL", quantity=20, exec_id="e2")
    working = order_submit(
        actor=None,
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=10,
        order_type="LMT",
        limit_price="99.00",
        source="strategy",
        trading_session=session,
        via="test",
    )
    Order.objects.filter(pk=working.pk).update(status=OrderStatus.SUBMITTED)
    assert session_net_position(session) == Decimal("30")

    session = trading_session_stop(session=session, actor=trader, via="test", reason="Risk off", flatten=True)
    closing = Order.objects.get(client_order_id=session_flatten_client_order_id(session))
    assert (closing.side, closing.quantity, closing.order_type, closing.source) == (
        "SELL",
        Decimal("30"),
        "MKT",
        "strategy",
    )
    assert (closing.trading_session, closing.status) == (session, OrderStatus.NEW)
    working.refresh_from_db()
    assert working.status == OrderStatus.CANCEL_REQUESTED
    assert OutboxMessage.objects.filter(
        type="order.cancel", data__client_order_id=str(working.client_order_id)
    ).exists()
    audit = AuditLog.objects.get(action="trading_session.stop")
    assert audit.after["flatten"] == {
        "cancelled": [str(working.client_order_id)],
        "position": "30.0000",
        "order": str(closing.client_order_id),
        "side": "SELL",
        "quantity": "30.0000",
    }

    with pytest.raises(TradingSessionTransitionRefused):
        trading_session_stop(session=session, actor=trader, via="test", flatten=True)
    assert Order.objects.filter(client_order_id=session_flatten_client_order_id(session)).count() == 1
    assert AuditLog.objects.filter(action="trading_session.stop").count() == 1


def test_a_paused_broker_session_with_a_short_position_is_flattened_by_a_buy(trader, account, instrument, approved):
    session = broker_session(account=account, version=approved, instrument=instrument, actor=trader)
    session_fill(session, side="SELL", quantity=15, exec_id="s1")
    session = trading_session_pause(session=session, actor=trader, via="test", reason="Lunch")
    session = trading_session_stop(session=session, actor=trader, via="test", flatten=True)
    closing = Order.objects.get(client_order_id=session_flatten_client_order_id(session))
    assert (closing.side, closing.quantity, session.status) == ("BUY", Decimal("15"), "stopped")


def test_a_flat_broker_session_stops_without_an_order(trader, account, instrument, approved):
    session = broker_session(account=account, version=approved, instrument=instrument, actor=trader)
    session_fill(session, side="BUY", quantity=5, exec_id="f1")
    session_fill(session, side="SELL", quantity=5, exec_id="f2")
    orders_before = Order.objects.count()
    trading_session_stop(session=session, actor=trader, via="test", flatten=True)
    assert Order.objects.count() == orders_before
    assert AuditLog.objects.get(action="trading_session.stop").after["flatten"] == {
        "cancelled": [],
        "position": "0.0000",
    }


def test_a_refused_flatten_still_stops_the_session_and_raises_a_critical_alert(
    trader, risk_manager, account, instrument, approved
):
    session = broker_session(account=account, version=approved, instrument=instrument, actor=trader)
    session_fill(session, side="BUY", quantity=40, exec_id="h1")
    account_halt(account=account, actor=risk_manager, reason="Position mismatch", via="test")
    session = trading_session_stop(session=session, actor=trader, via="test", reason="Halted", flatten=True)
    session.refresh_from_db()
    assert session.status == "stopped"
    assert session.status_reason == "Halted; flatten refused (account.halted)"
    assert not Order.objects.filter(client_order_id=session_flatten_client_order_id(session)).exists()
    alert = Alert.objects.get(kind="trading_session.flatten_refused")
    assert (alert.key, alert.severity, alert.account) == (
        f"trading_session.flatten_refused:{session.pk}",
        "critical",
        account,
    )
    assert AuditLog.objects.get(action="trading_session.stop").after["flatten"]["refused"]["code"] == "account.halted"


# --- the runner's own pause and stop -----------------------------------------------------------------


def test_the_runner_pauses_a_running_session_with_its_code_an_audit_row_and_a_warning(account, instrument, ema_version):
    session = open_session(account=account, version=ema_version, instrument=instrument)
    trading_session_start(session=session, actor=None, via="test")
    paused = trading_session_pause_self(session_id=session.pk, code="max_daily_loss", message="Down 2,600 today")
    assert (paused.status, paused.status_reason) == ("paused", "max_daily_loss")
    audit = AuditLog.objects.get(action="trading_session.pause")
    assert (audit.actor, audit.via, audit.after["message"]) == (None, "runner", "Down 2,600 today")
    alert = Alert.objects.get()
    assert (alert.key, alert.kind, alert.severity, alert.account) == (
        f"trading_session.max_daily_loss:{session.pk}",
        "trading_session.paused",
        "warning",
        account,
    )
    assert "Down 2,600 today" in alert.message

    # Not running any more: nothing changes, nothing more is raised or audited.
    again = trading_session_pause_self(session_id=session.pk, code="stale_data", message="No bar for 5 minutes")
    assert (again.status, again.status_reason) == ("paused", "max_daily_loss")
    assert (Alert.objects.count(), AuditLog.objects.filter(action="trading_session.pause").count()) == (1, 1)


def test_the_runner_stops_a_session_whose_strategy_raised_with_a_critical_alert(account, instrument, ema_version):
    session = open_session(account=account, version=ema_version, instrument=instrument)
    trading_session_start(session=session, actor=None, via="test")
    stopped = trading_session_stop_self(session_id=session.pk, code="evaluation_error", message="ZeroDivisionError")
    stopped.refresh_from_db()
    assert (stopped.status, stopped.status_reason, stopped.flatten_on_stop) == ("stopped", "evaluation_error", False)
    assert stopped.stopped_at is not None
    alert = Alert.objects.get()
    assert (alert.kind, alert.severity) == ("trading_session.stopped", "critical")
    audit = AuditLog.objects.get(action="trading_session.stop")
    assert (audit.actor, audit.via) == (None, "runner")
    assert (
        trading_session_stop_self(session_id=session.pk, code="evaluation_error", message="again").status == "stopped"
    )
    assert Alert.objects.count() == 1
