"""Every write of the strategies app: strategies, and creating, starting, pausing, resuming, stopping sessions.

The session's status is what strategies read before they trade; ``order_submit`` refuses a
strategy order whose session is not running. Each change writes an audit row in its transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.command_text import command_text_check
from accounts.exceptions import AccountNotMember
from accounts.models import AccountValue, BrokerAccount, User
from accounts.services import audit_record, jsonable, model_validate, require_actor, save_unique
from strategies.exceptions import (
    StrategyDisabled,
    StrategyInvalid,
    StrategyNameTaken,
    StrategyNotAllowedOnAccount,
    TradingSessionInvalid,
    TradingSessionTransitionRefused,
)
from strategies.models import Strategy, TradingSession
from strategies.selectors import strategy_list

Status = TradingSession.Status

# The one table of session moves: from → allowed targets.
SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.RUNNING, Status.STOPPED}),
    Status.RUNNING: frozenset({Status.PAUSED, Status.STOPPED}),
    Status.PAUSED: frozenset({Status.RUNNING, Status.STOPPED}),
    Status.STOPPED: frozenset(),
}


def _move(
    session: TradingSession, *, to: str, actor: User | None, via: str, action: str, extra_fields=()
) -> TradingSession:
    if to not in SESSION_TRANSITIONS[session.status]:
        raise TradingSessionTransitionRefused(f"A {session.get_status_display().lower()} session cannot be {action}.")
    before = session.status
    session.status = to
    session.save(update_fields=["status", *extra_fields])
    audit_record(
        actor=actor,
        action=f"trading_session.{action}",
        obj=session,
        account=session.account,
        before={"status": before},
        after={"status": to},
        via=via,
    )
    return session


def _lock(session: TradingSession) -> TradingSession:
    return TradingSession.objects.select_for_update().select_related("strategy", "account").get(pk=session.pk)


def _net_liquidation(session: TradingSession) -> Decimal | None:
    value = (
        AccountValue.objects.filter(account=session.account, tag="NetLiquidation")
        .values_list("value", flat=True)
        .first()
    )
    try:
        return Decimal(value) if value else None
    except InvalidOperation:
        return None


@transaction.atomic
def trading_session_start(*, session: TradingSession, actor: User | None, via: str) -> TradingSession:
    """Start a pending session: ``running``, with its start time and its starting equity.

    The starting equity is the one given to ``trading_session_create``, else the account's
    net liquidation value now.

    :raises StrategyDisabled: the strategy is disabled.
    :raises StrategyNotAllowedOnAccount: the strategy lists accounts and this is not one of them.
    :raises TradingSessionTransitionRefused: the session is not pending.
    :raises AccountNotMember, PermissionRequired: the actor may not control sessions of this account.
    """
    require_actor(actor, account=session.account, perm="strategies.change_tradingsession")
    session = _lock(session)
    if not session.strategy.enabled:
        raise StrategyDisabled(f"Strategy {session.strategy.name} is disabled.")
    allowed = session.strategy.accounts.all()
    if allowed.exists() and not allowed.filter(pk=session.account_id).exists():
        raise StrategyNotAllowedOnAccount(
            f"Strategy {session.strategy.name} may not trade account {session.account.code}."
        )
    if session.status != Status.PENDING:
        raise TradingSessionTransitionRefused("Only a pending session can be started; resume a paused one.")
    session.started_at = timezone.now()
    if session.starting_equity is None:
        # An equity given when the session was opened is the desk's decision; keep it.
        session.starting_equity = _net_liquidation(session)
    return _move(
        session, to=Status.RUNNING, actor=actor, via=via, action="start", extra_fields=("started_at", "starting_equity")
    )


@transaction.atomic
def trading_session_pause(*, session: TradingSession, actor: User | None, via: str) -> TradingSession:
    """Pause a running session: its strategy stops entering orders; working orders stay.

    :raises TradingSessionTransitionRefused: the session is not running.
    :raises AccountNotMember, PermissionRequired:
    """
    require_actor(actor, account=session.account, perm="strategies.change_tradingsession")
    return _move(_lock(session), to=Status.PAUSED, actor=actor, via=via, action="pause")


@transaction.atomic
def trading_session_resume(*, session: TradingSession, actor: User | None, via: str) -> TradingSession:
    """Resume a paused session.

    :raises StrategyDisabled: the strategy was disabled meanwhile.
    :raises TradingSessionTransitionRefused: the session is not paused.
    :raises AccountNotMember, PermissionRequired:
    """
    require_actor(actor, account=session.account, perm="strategies.change_tradingsession")
    session = _lock(session)
    if session.status != Status.PAUSED:
        raise TradingSessionTransitionRefused("Only a paused session can be resumed.")
    if not session.strategy.enabled:
        raise StrategyDisabled(f"Strategy {session.strategy.name} is disabled.")
    return _move(session, to=Status.RUNNING, actor=actor, via=via, action="resume")


@transaction.atomic
def trading_session_stop(*, session: TradingSession, actor: User | None, via: str) -> TradingSession:
    """Stop a session for good (from pending, running or paused).

    :raises TradingSessionTransitionRefused: the session is already stopped.
    :raises AccountNotMember, PermissionRequired:
    """
    require_actor(actor, account=session.account, perm="strategies.change_tradingsession")
    session = _lock(session)
    session.stopped_at = timezone.now()
    return _move(session, to=Status.STOPPED, actor=actor, via=via, action="stop", extra_fields=("stopped_at",))


# --- strategies and new sessions -----------------------------------------------------------------

STRATEGY_EDITABLE = ("name", "description", "parameters", "accounts", "enabled")


def _strategy_snapshot(strategy: Strategy) -> dict[str, Any]:
    return jsonable(
        {
            "name": strategy.name,
            "description": strategy.description,
            "parameters": strategy.parameters,
            "accounts": sorted(strategy.accounts.values_list("code", flat=True)) if strategy.pk else [],
            "enabled": strategy.enabled,
        }
    )


def _check_parameters(parameters: Any) -> dict[str, Any]:
    """Return ``parameters`` as a JSON object of named values, ``None`` meaning none.

    :raises StrategyInvalid: a list, a scalar, an empty or non-string name, or a value JSON cannot hold.
    """
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise StrategyInvalid('Parameters must be a JSON object, such as {"fast": 10, "slow": 30}.', field="parameters")
    if any(not isinstance(key, str) or not key.strip() for key in parameters):
        raise StrategyInvalid("Parameter names must be non-empty text.", field="parameters")
    try:
        return jsonable(parameters)
    except (TypeError, ValueError):
        raise StrategyInvalid("Parameter values must be JSON values.", field="parameters") from None


def _check_accounts(accounts: Any, *, actor: User | None) -> list[BrokerAccount]:
    """Return the accounts as saved rows, refusing any the actor is not a member of."""
    accounts = list(accounts or [])
    if any(not isinstance(account, BrokerAccount) or account.pk is None for account in accounts):
        raise StrategyInvalid("Accounts must be saved broker accounts.", field="accounts")
    for account in accounts:
        require_actor(actor, account=account)
    return accounts


def _strategy_clean(strategy: Strategy) -> None:
    strategy.name = (strategy.name or "").strip()
    if not strategy.name:
        raise StrategyInvalid("The strategy needs a name.", field="name")
    # The name travels in the order.place of every order a session of the strategy enters.
    command_text_check(command="order.place", key="strategy", value=strategy.name, field="name")
    strategy.parameters = _check_parameters(strategy.parameters)
    model_validate(strategy, invalid=StrategyInvalid, taken=StrategyNameTaken)


@transaction.atomic
def strategy_create(
    *,
    actor: User | None,
    name: str,
    description: str = "",
    parameters: dict[str, Any] | None = None,
    accounts: Iterable[BrokerAccount] = (),
    enabled: bool = True,
    via: str,
) -> Strategy:
    """Add a strategy with its parameters and the accounts it may trade (none listed: any account).

    :raises PermissionRequired: ``actor`` may not add strategies.
    :raises AccountNotMember: ``actor`` names an account they are not a member of.
    :raises StrategyInvalid: an empty name, or parameters that are not a JSON object of named values.
    :raises StrategyNameTaken: another strategy has this name.
    """
    require_actor(actor, perm="strategies.add_strategy")
    accounts = _check_accounts(accounts, actor=actor)
    strategy = Strategy(name=name, description=(description or "").strip(), parameters=parameters, enabled=enabled)
    _strategy_clean(strategy)
    save_unique(strategy, taken=StrategyNameTaken)
    strategy.accounts.set(accounts)
    audit_record(actor=actor, action="strategy.create", obj=strategy, after=_strategy_snapshot(strategy), via=via)
    return strategy


@transaction.atomic
def strategy_update(*, strategy: Strategy, actor: User | None, via: str, **changes: Any) -> Strategy:
    """Change fields of a strategy (see ``STRATEGY_EDITABLE``); ``accounts`` replaces the whole list.

    The actor must see the strategy (``strategy_list``) and be a member of every account they
    add or remove; accounts they do not see stay as they are only if passed back unchanged.
    Sessions already running read the new parameters the next time they load the strategy.
    Nothing changed writes nothing.

    :raises TypeError: a field outside ``STRATEGY_EDITABLE``.
    :raises AccountNotMember, PermissionRequired: ``actor`` may not change this strategy or
        these accounts.
    :raises StrategyInvalid, StrategyNameTaken: as ``strategy_create``.
    """
    unknown = sorted(set(changes) - set(STRATEGY_EDITABLE))
    if unknown:
        raise TypeError(f"unknown strategy fields: {unknown}")
    require_actor(actor, perm="strategies.change_strategy")
    if actor is not None and not strategy_list(user=actor).filter(pk=strategy.pk).exists():
        raise AccountNotMember("This strategy trades none of your accounts.")
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    before = _strategy_snapshot(strategy)
    accounts = changes.pop("accounts", None)
    for name, value in changes.items():
        setattr(strategy, name, value)
    _strategy_clean(strategy)
    fields = [name for name in changes if getattr(strategy, name) != before[name]]
    if fields:
        strategy.save(update_fields=fields)
    if accounts is not None:
        current = {account.pk: account for account in strategy.accounts.all()}
        wanted = {account.pk: account for account in _check_accounts(accounts, actor=None)}
        for pk in current.keys() ^ wanted.keys():
            require_actor(actor, account=current.get(pk) or wanted[pk])
        strategy.accounts.set(wanted.values())
    after = _strategy_snapshot(strategy)
    changed = [name for name in STRATEGY_EDITABLE if after[name] != before[name]]
    if changed:
        audit_record(
            actor=actor,
            action="strategy.update",
            obj=strategy,
            before={name: before[name] for name in changed},
            after={name: after[name] for name in changed},
            via=via,
        )
    return strategy


def _starting_equity(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        equity = Decimal(str(value))
    except InvalidOperation:
        raise TradingSessionInvalid("The starting equity is not a number.", field="starting_equity") from None
    if not equity.is_finite() or equity < 0:
        raise TradingSessionInvalid("The starting equity is zero or more.", field="starting_equity")
    return equity


@transaction.atomic
def trading_session_create(
    *,
    strategy: Strategy,
    account: BrokerAccount,
    actor: User | None,
    starting_equity: Decimal | str | None = None,
    via: str,
) -> TradingSession:
    """Open a pending session of ``strategy`` on ``account``; starting it is ``trading_session_start``.

    :raises AccountNotMember, PermissionRequired: ``actor`` is not a member of ``account`` or
        may not add sessions.
    :raises StrategyNotAllowedOnAccount: the strategy lists accounts and this is not one of them.
    :raises StrategyDisabled: the strategy is disabled.
    :raises TradingSessionInvalid: a starting equity that is negative or not a number.
    """
    require_actor(actor, account=account, perm="strategies.add_tradingsession")
    equity = _starting_equity(starting_equity)
    # Locked so a concurrent strategy_update cannot take the account away under the check.
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    allowed = strategy.accounts.all()
    if allowed.exists() and not allowed.filter(pk=account.pk).exists():
        raise StrategyNotAllowedOnAccount(f"Strategy {strategy.name} may not trade account {account.code}.")
    if not strategy.enabled:
        raise StrategyDisabled(f"Strategy {strategy.name} is disabled.")
    session = TradingSession.objects.create(strategy=strategy, account=account, starting_equity=equity)
    audit_record(
        actor=actor,
        action="trading_session.create",
        obj=session,
        account=account,
        after={
            "strategy": strategy.name,
            "account": account.code,
            "status": session.status,
            "starting_equity": equity,
        },
        via=via,
    )
    return session
