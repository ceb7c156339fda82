"""Starting, pausing, resuming and stopping trading sessions, by people and by the runner itself.

The session's status is what the runner and strategies read before they trade (the runner
polls it about twice a second); ``order_submit`` refuses a strategy order whose session is not
running. Each move writes an audit row in its transaction; the runner's own pauses and stops
also raise an alert.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from accounts.models import AccountValue, Alert, User
from accounts.services import alert_raise, require_actor
from strategies.exceptions import StrategyDisabled, StrategyNotAllowedOnAccount, TradingSessionTransitionRefused
from strategies.models import TradingSession
from strategies.services.session_flatten import session_flatten, session_working_orders_lock
from strategies.services.session_runs import flatten_price, session_forward_flatten
from strategies.services.sessions import (
    REASON_MAX,
    session_lock,
    session_move,
    session_reason,
    session_version_check,
)

Status = TradingSession.Status
CONTROL_PERM = "strategies.change_tradingsession"
RUNNER_VIA = "runner"


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


def _strategy_may_run(session: TradingSession) -> None:
    if not session.strategy.enabled:
        raise StrategyDisabled(f"Strategy {session.strategy.name} is disabled.")
    allowed = session.strategy.accounts.all()
    if allowed.exists() and not allowed.filter(pk=session.account_id).exists():
        raise StrategyNotAllowedOnAccount(
            f"Strategy {session.strategy.name} may not trade account {session.account.code}."
        )


@transaction.atomic
def trading_session_start(*, session: TradingSession, actor: User | None, via: str) -> TradingSession:
    """Start a pending session: ``running``, with its start time and its starting equity.

    The starting equity is the one given to ``trading_session_create`` (a forward test always
    has one), else the account's net liquidation value now.

    :raises StrategyDisabled: the strategy is disabled.
    :raises StrategyNotAllowedOnAccount: the strategy lists accounts and this is not one of them.
    :raises TradingSessionVersionNotApproved: a broker session whose version is not approved.
    :raises TradingSessionTransitionRefused: the session is not pending.
    :raises AccountNotMember, PermissionRequired: the actor may not control sessions of this account.
    """
    require_actor(actor, account=session.account, perm=CONTROL_PERM)
    session = session_lock(session)
    _strategy_may_run(session)
    if session.status != Status.PENDING:
        raise TradingSessionTransitionRefused("Only a pending session can be started; resume a paused one.")
    session_version_check(session)
    session.started_at = session.running_since = timezone.now()
    if session.starting_equity is None:
        # An equity given when the session was opened is the desk's decision; keep it.
        session.starting_equity = _net_liquidation(session)
    session.status_reason = ""
    return session_move(
        session,
        to=Status.RUNNING,
        actor=actor,
        via=via,
        action="start",
        extra_fields=("started_at", "running_since", "starting_equity", "status_reason"),
    )


@transaction.atomic
def trading_session_pause(*, session: TradingSession, actor: User | None, via: str, reason: str = "") -> TradingSession:
    """Pause a running session, recording ``reason``: its strategy stops entering orders; working orders stay.

    :raises TradingSessionInvalid: a reason longer than 200 characters.
    :raises TradingSessionTransitionRefused: the session is not running.
    :raises AccountNotMember, PermissionRequired:
    """
    require_actor(actor, account=session.account, perm=CONTROL_PERM)
    reason = session_reason(reason)
    session = session_lock(session)
    session.status_reason = reason
    return session_move(
        session, to=Status.PAUSED, actor=actor, via=via, action="pause", extra_fields=("status_reason",)
    )


@transaction.atomic
def trading_session_resume(*, session: TradingSession, actor: User | None, via: str) -> TradingSession:
    """Resume a paused session; the reason it was paused is cleared.

    :raises StrategyDisabled: the strategy was disabled meanwhile.
    :raises TradingSessionVersionNotApproved: a broker session whose version is not approved.
    :raises TradingSessionTransitionRefused: the session is not paused.
    :raises AccountNotMember, PermissionRequired:
    """
    require_actor(actor, account=session.account, perm=CONTROL_PERM)
    session = session_lock(session)
    if session.status != Status.PAUSED:
        raise TradingSessionTransitionRefused("Only a paused session can be resumed.")
    if not session.strategy.enabled:
        raise StrategyDisabled(f"Strategy {session.strategy.name} is disabled.")
    session_version_check(session)
    session.status_reason = ""
    # The runner decides from here on: the bars of the pause are the strategy's history, not late decisions.
    session.running_since = timezone.now()
    return session_move(
        session,
        to=Status.RUNNING,
        actor=actor,
        via=via,
        action="resume",
        extra_fields=("status_reason", "running_since"),
    )


@transaction.atomic
def trading_session_stop(
    *, session: TradingSession, actor: User | None, via: str, reason: str = "", flatten: bool = False
) -> TradingSession:
    """Stop a session for good (from pending, running or paused), recording ``reason`` and ``flatten``.

    ``flatten`` on a broker session: in this transaction, its working orders are cancelled and a
    market order closes its net position (``session_flatten``; the order's id is derived from
    the session, and a stopped session cannot be stopped again, so it is entered once). A
    refusal of that (kill switch, halt, a risk limit…) does not keep the session running: the
    stop commits, the refusal's code is appended to ``status_reason``, kept in the audit row
    and raised as a critical alert (key ``trading_session.flatten_refused:<pk>``) for the desk
    to close the position by hand. ``flatten`` on a forward test is only recorded: the runner
    closes its simulated position at the last quote.

    :raises TradingSessionInvalid: a reason longer than 200 characters.
    :raises TradingSessionTransitionRefused: the session is already stopped.
    :raises AccountNotMember, PermissionRequired:
    """
    require_actor(actor, account=session.account, perm=CONTROL_PERM)
    reason = session_reason(reason)
    if flatten and session.mode == TradingSession.Mode.BROKER:
        session_working_orders_lock(session)
    session = session_lock(session)
    if session.status == Status.STOPPED:
        raise TradingSessionTransitionRefused("The session is already stopped.")
    session.stopped_at = timezone.now()
    session.status_reason, session.flatten_on_stop = reason, bool(flatten)
    after: dict = {"flatten_on_stop": session.flatten_on_stop}
    if session.flatten_on_stop and session.mode == TradingSession.Mode.BROKER:
        after["flatten"] = outcome = session_flatten(session=session, actor=actor, via=via)
        if "refused" in outcome:
            _flatten_refused(session, outcome["refused"])
    elif session.flatten_on_stop:
        # A forward test closes its simulated position here, from its last recorded state: the
        # runner's bar in flight is refused once this commits (the session no longer runs).
        price = flatten_price(session)
        if price is not None:
            fills = session_forward_flatten(session=session, price=price, at=int(session.stopped_at.timestamp()))
            after["flatten"] = {"price": price, "fills": len(fills)}
    return session_move(
        session,
        to=Status.STOPPED,
        actor=actor,
        via=via,
        action="stop",
        extra_fields=("stopped_at", "status_reason", "flatten_on_stop"),
        after=after,
    )


def _flatten_refused(session: TradingSession, refused: dict) -> None:
    note = f"flatten refused ({refused['code']})"
    reason = f"{session.status_reason}; {note}" if session.status_reason else note
    session.status_reason = reason[:REASON_MAX]
    alert_raise(
        key=f"trading_session.flatten_refused:{session.pk}",
        kind="trading_session.flatten_refused",
        message=(
            f"{session.strategy.name} on {session.account.code} stopped, but its position in "
            f"{session.instrument} was not closed: {refused['detail']} ({refused['code']})"
        ),
        severity=Alert.Severity.CRITICAL,
        account=session.account,
        data={"session": session.pk, **refused},
    )


def _runner_move(*, session_id: int, to: str, code: str, message: str, severity: str) -> TradingSession:
    session = session_lock(session_id)
    if session.status != Status.RUNNING:
        return session
    action, done = ("pause", "paused") if to == Status.PAUSED else ("stop", "stopped")
    session.status_reason = code[:REASON_MAX]
    fields = ["status_reason"]
    if to == Status.STOPPED:
        session.stopped_at = timezone.now()
        fields.append("stopped_at")
    session = session_move(
        session, to=to, actor=None, via=RUNNER_VIA, action=action, extra_fields=fields, after={"message": message}
    )
    alert_raise(
        key=f"trading_session.{code}:{session.pk}",
        kind=f"trading_session.{done}",
        message=f"{session.strategy.name} on {session.account.code} {done} by the runner: {message}",
        severity=severity,
        account=session.account,
        data={"session": session.pk, "code": code},
    )
    return session


@transaction.atomic
def trading_session_pause_self(*, session_id: int, code: str, message: str) -> TradingSession:
    """The runner pauses a running session (its daily loss limit, stale data…): ``status_reason`` is ``code``.

    Audited with no actor, via ``runner``, and raised as a warning alert keyed
    ``trading_session.<code>:<pk>``, in one transaction. A session that is no longer running
    (a person paused or stopped it meanwhile) is returned unchanged.
    """
    return _runner_move(
        session_id=session_id, to=Status.PAUSED, code=code, message=message, severity=Alert.Severity.WARNING
    )


@transaction.atomic
def trading_session_stop_self(*, session_id: int, code: str, message: str) -> TradingSession:
    """The runner stops a running session (its strategy's evaluation raised): ``status_reason`` is ``code``.

    As ``trading_session_pause_self``, with a critical alert. Nothing is flattened: a broker
    session's position stays for the desk to decide.
    """
    return _runner_move(
        session_id=session_id, to=Status.STOPPED, code=code, message=message, severity=Alert.Severity.CRITICAL
    )
