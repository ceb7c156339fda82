"""Every write of trading sessions: creating, starting, pausing, resuming and stopping them.

The session's status is what strategies read before they trade; ``order_submit`` refuses a
strategy order whose session is not running. Each change writes an audit row in its transaction.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import AccountValue, BrokerAccount, User
from accounts.services import audit_record, require_actor
from strategies.exceptions import (
    StrategyDisabled,
    StrategyNotAllowedOnAccount,
    TradingSessionInvalid,
    TradingSessionTransitionRefused,
)
from strategies.models import Strategy, TradingSession

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
