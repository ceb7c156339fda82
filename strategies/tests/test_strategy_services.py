"""Strategies and new trading sessions are written only through audited services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.exceptions import AccountNotMember, PermissionRequired
from accounts.models import AuditLog, Role
from accounts.services import account_values_update
from accounts.tests.factories import UserFactory
from orders.tests.factories import InstrumentFactory
from strategies.exceptions import (
    StrategyDisabled,
    StrategyInvalid,
    StrategyNameTaken,
    StrategyNotAllowedOnAccount,
    TradingSessionInvalid,
)
from strategies.models import Strategy, TradingSession
from strategies.services import (
    strategy_create,
    strategy_update,
    strategy_version_save,
    trading_session_create,
    trading_session_start,
)
from strategies.tests.factories import StrategyFactory, template_graph

pytestmark = pytest.mark.django_db


@pytest.fixture
def strategist(account):
    """An Admin-role person who is not a superuser: a member of ``account`` only."""
    return UserFactory(username="strategist", roles=[Role.ADMIN], accounts=[account])


# --- strategies ------------------------------------------------------------------------------------


def test_creating_a_strategy_stores_it_with_its_accounts_and_an_audit_row(strategist, account):
    strategy = strategy_create(
        actor=strategist, name=" Breakout ", parameters={"fast": 10, "slow": 30}, accounts=[account], via="admin"
    )
    strategy.refresh_from_db()
    assert (strategy.name, strategy.parameters, list(strategy.accounts.all())) == (
        "Breakout",
        {"fast": 10, "slow": 30},
        [account],
    )
    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor, audit.object_id, audit.via) == (
        "strategy.create",
        strategist,
        str(strategy.pk),
        "admin",
    )
    assert audit.after == {
        "name": "Breakout",
        "description": "",
        "parameters": {"fast": 10, "slow": 30},
        "accounts": [account.code],
        "enabled": True,
    }


@pytest.mark.parametrize("parameters", [[1, 2], "fast", 3, {"": 1}, {" ": 1}, {"at": object()}])
def test_parameters_that_are_not_a_json_object_of_named_values_are_refused(strategist, parameters):
    with pytest.raises(StrategyInvalid) as refused:
        strategy_create(actor=strategist, name="Breakout", parameters=parameters, via="test")
    assert (refused.value.code, refused.value.field) == ("strategy.invalid", "parameters")
    assert (Strategy.objects.count(), AuditLog.objects.count()) == (0, 0)


def test_a_strategy_name_is_unique_and_not_empty(strategist):
    StrategyFactory(name="Breakout")
    with pytest.raises(StrategyNameTaken) as refused:
        strategy_create(actor=strategist, name="Breakout", via="test")
    assert refused.value.code == "strategy.name_taken"
    with pytest.raises(StrategyInvalid):
        strategy_create(actor=strategist, name="  ", via="test")
    assert (Strategy.objects.count(), AuditLog.objects.count()) == (1, 0)


def test_a_strategy_may_not_name_an_account_the_actor_is_not_a_member_of(strategist, other_account):
    with pytest.raises(AccountNotMember):
        strategy_create(actor=strategist, name="Breakout", accounts=[other_account], via="test")
    assert (Strategy.objects.count(), AuditLog.objects.count()) == (0, 0)


def test_a_viewer_may_not_create_strategies_and_a_trader_may(viewer, trader):
    # Issue 19: Traders create and edit strategies (and save their graphs as versions).
    with pytest.raises(PermissionRequired):
        strategy_create(actor=viewer, name="Breakout", via="test")
    assert (Strategy.objects.count(), AuditLog.objects.count()) == (0, 0)
    strategy = strategy_create(actor=trader, name="Breakout", via="test")
    assert AuditLog.objects.get().actor == trader
    strategy_update(strategy=strategy, actor=trader, description="Fades breakouts", via="test")
    assert Strategy.objects.get().description == "Fades breakouts"


def test_updating_a_strategy_audits_what_changed(strategist, account):
    strategy = StrategyFactory(name="Mean reversion", parameters={"window": 20})
    strategy.accounts.add(account)
    strategy_update(strategy=strategy, actor=strategist, parameters={"window": 30}, enabled=False, via="admin")
    strategy.refresh_from_db()
    assert (strategy.parameters, strategy.enabled) == ({"window": 30}, False)
    audit = AuditLog.objects.get()
    assert audit.action == "strategy.update"
    assert audit.before == {"parameters": {"window": 20}, "enabled": True}
    assert audit.after == {"parameters": {"window": 30}, "enabled": False}


def test_an_update_keeps_accounts_the_actor_passes_back_but_may_not_move_them(strategist, account, other_account):
    strategy = StrategyFactory(name="Pairs")
    strategy.accounts.add(account, other_account)
    # Passing the hidden account back unchanged is allowed; removing it is not.
    strategy_update(strategy=strategy, actor=strategist, accounts=[account, other_account], via="test")
    assert not AuditLog.objects.exists()
    with pytest.raises(AccountNotMember):
        strategy_update(strategy=strategy, actor=strategist, accounts=[account], via="test")
    assert set(strategy.accounts.all()) == {account, other_account}
    strategy_update(strategy=strategy, actor=strategist, accounts=[other_account], via="test")
    audit = AuditLog.objects.get()
    assert (audit.before, audit.after) == (
        {"accounts": [account.code, other_account.code]},
        {"accounts": [other_account.code]},
    )


def test_a_strategy_the_actor_cannot_see_may_not_be_updated(strategist, other_account):
    strategy = StrategyFactory(name="Elsewhere")
    strategy.accounts.add(other_account)
    with pytest.raises(AccountNotMember):
        strategy_update(strategy=strategy, actor=strategist, description="mine", via="test")
    strategy.refresh_from_db()
    assert strategy.description == "A test strategy"


def test_a_refused_update_changes_nothing(strategist):
    strategy = StrategyFactory(name="Momentum", parameters={"window": 20})
    with pytest.raises(StrategyInvalid):
        strategy_update(strategy=strategy, actor=strategist, description="new", parameters=[1], via="test")
    strategy.refresh_from_db()
    assert (strategy.description, strategy.parameters, AuditLog.objects.count()) == (
        "A test strategy",
        {"window": 20},
        0,
    )


# --- new sessions ----------------------------------------------------------------------------------
# Their modes, fields and approval: test_session_controls.py.


def new_session(*, strategy, account, actor, **fields) -> TradingSession:
    """Open a forward test of version 1 of ``strategy`` (saved here) on AAPL."""
    version = strategy_version_save(actor=None, strategy=strategy, graph=template_graph("ema_crossover"), via="test")
    values = {"version": version, "instrument": InstrumentFactory(symbol="AAPL"), "starting_equity": "100000", **fields}
    return trading_session_create(strategy=strategy, account=account, actor=actor, via="test", **values)


def test_creating_a_session_opens_it_pending_with_an_audit_row(session_opener, account):
    strategy = StrategyFactory(name="Breakout")
    strategy.accounts.add(account)
    session = new_session(strategy=strategy, account=account, actor=session_opener)
    session.refresh_from_db()
    assert (session.status, session.account, session.starting_equity) == (
        TradingSession.Status.PENDING,
        account,
        Decimal("100000"),
    )
    audit = AuditLog.objects.get(action="trading_session.create")
    assert (audit.action, audit.account, audit.object_id) == ("trading_session.create", account, str(session.pk))
    assert {key: audit.after[key] for key in ("strategy", "account", "status", "starting_equity", "mode")} == {
        "strategy": "Breakout",
        "account": account.code,
        "status": "pending",
        "starting_equity": "100000.0000",
        "mode": "forward",
    }


def test_a_session_opened_with_a_starting_equity_keeps_it_when_started(session_opener, account):
    account_values_update(
        account=account, values={"NetLiquidation": "250000"}, currency="USD", reported_at=timezone.now()
    )
    given = new_session(strategy=StrategyFactory(name="Breakout"), account=account, actor=session_opener)
    trading_session_start(session=given, actor=session_opener, via="test")
    given.refresh_from_db()
    assert (given.status, given.starting_equity) == (TradingSession.Status.RUNNING, Decimal("100000"))


def test_a_session_on_an_account_the_strategy_may_not_trade_is_refused(session_opener, account, other_account):
    strategy = StrategyFactory(name="Elsewhere")
    strategy.accounts.add(other_account)
    with pytest.raises(StrategyNotAllowedOnAccount):
        new_session(strategy=strategy, account=account, actor=session_opener)
    assert (TradingSession.objects.count(), AuditLog.objects.filter(action="trading_session.create").count()) == (0, 0)


def test_a_strategy_listing_no_accounts_may_open_a_session_anywhere(admin_user, other_account):
    session = new_session(strategy=StrategyFactory(name="Anywhere"), account=other_account, actor=admin_user)
    assert session.account == other_account


def test_a_session_needs_a_member_with_the_permission(session_opener, trader, account, other_account):
    strategy = StrategyFactory(name="Breakout")
    with pytest.raises(AccountNotMember):
        new_session(strategy=strategy, account=other_account, actor=session_opener)
    with pytest.raises(PermissionRequired):
        new_session(strategy=strategy, account=account, actor=trader)
    assert (TradingSession.objects.count(), AuditLog.objects.filter(action="trading_session.create").count()) == (0, 0)


def test_a_disabled_strategy_or_a_bad_equity_opens_no_session(session_opener, account):
    with pytest.raises(StrategyDisabled):
        new_session(strategy=StrategyFactory(name="Off", enabled=False), account=account, actor=session_opener)
    for equity in ("-1", "lots", "NaN"):
        with pytest.raises(TradingSessionInvalid) as refused:
            new_session(
                strategy=StrategyFactory(name="On"), account=account, actor=session_opener, starting_equity=equity
            )
        assert refused.value.field == "starting_equity"
    assert (TradingSession.objects.count(), AuditLog.objects.filter(action="trading_session.create").count()) == (0, 0)
