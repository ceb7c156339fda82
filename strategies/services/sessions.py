"""Opening trading sessions, and the one table and writer of their status moves.

A session runs one pinned strategy version on one instrument's closed bars, in one of two
modes: ``forward`` (a paper test: the runner fills it in-process from its own cash) or
``broker`` (its orders go through the desk's order path, so only an approved version may run
it). Starting, pausing, resuming and stopping are ``session_controls``. Each change writes an
audit row in its transaction.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from accounts.models import BrokerAccount, User
from accounts.services import audit_record, require_actor
from marketdata import resolutions
from orders.models import Instrument
from orders.services.common import instrument_resolve
from strategies.backtest import BadFeeModel, BadSlippageModel, FeeModel, SlippageModel
from strategies.exceptions import (
    StrategyDisabled,
    StrategyNotAllowedOnAccount,
    TradingSessionInvalid,
    TradingSessionNotRunnable,
    TradingSessionTransitionRefused,
    TradingSessionVersionNotApproved,
)
from strategies.models import Strategy, StrategyVersion, TradingSession

Status = TradingSession.Status
Mode = TradingSession.Mode
# Room for a sentence; the column is 200 characters.
REASON_MAX = 200
# The money and slippage columns keep four decimal places; the backtests' cash has the same ceiling.
PLACES = Decimal("0.0001")
MAX_MONEY = Decimal("1000000000000")
MAX_SLIPPAGE = Decimal("1000000")

# The one table of session moves: from → allowed targets.
SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.PENDING: frozenset({Status.RUNNING, Status.STOPPED}),
    Status.RUNNING: frozenset({Status.PAUSED, Status.STOPPED}),
    Status.PAUSED: frozenset({Status.RUNNING, Status.STOPPED}),
    Status.STOPPED: frozenset(),
}


def session_lock(session: TradingSession | int) -> TradingSession:
    """Return the session's row locked for this transaction, with its strategy, account, version and instrument."""
    pk = session if isinstance(session, int) else session.pk
    return (
        TradingSession.objects.select_for_update(of=("self",))
        .select_related("strategy", "account", "version", "instrument")
        .get(pk=pk)
    )


def session_move(
    session: TradingSession,
    *,
    to: str,
    actor: User | None,
    via: str,
    action: str,
    extra_fields=(),
    after: dict | None = None,
) -> TradingSession:
    """Move a locked session to ``to`` and save it with ``extra_fields``; audited as ``trading_session.<action>``.

    The audit row's ``before`` holds the status and reason the session had, its ``after`` the new
    ones plus ``after``.

    :raises TradingSessionTransitionRefused: the table has no such move.
    """
    if to not in SESSION_TRANSITIONS[session.status]:
        raise TradingSessionTransitionRefused(f"A {session.get_status_display().lower()} session cannot be {action}.")
    # As stored: callers set the new reason (and other fields) on the locked row before the move.
    before = TradingSession.objects.filter(pk=session.pk).values("status", "status_reason").get()
    session.status = to
    session.save(update_fields=["status", *extra_fields])
    audit_record(
        actor=actor,
        action=f"trading_session.{action}",
        obj=session,
        account=session.account,
        before=before,
        after={"status": to, "status_reason": session.status_reason, **(after or {})},
        via=via,
    )
    return session


def session_reason(reason: Any) -> str:
    """A person's reason for pausing or stopping, stripped.

    :raises TradingSessionInvalid: not text, or longer than 200 characters.
    """
    if reason is None:
        return ""
    if not isinstance(reason, str):
        raise TradingSessionInvalid("The reason is text.", field="reason")
    reason = reason.strip()
    if len(reason) > REASON_MAX:
        raise TradingSessionInvalid(f"Keep the reason to {REASON_MAX} characters.", field="reason")
    return reason


def session_version_check(session: TradingSession) -> None:
    """Refuse a session with nothing to run, or a broker session whose pinned version is not approved
    (a forward test needs no approval).

    :raises TradingSessionNotRunnable: no pinned version or no instrument.
    :raises TradingSessionVersionNotApproved:
    """
    if session.version_id is None or session.instrument_id is None:
        raise TradingSessionNotRunnable(f"Session {session.pk} has no strategy version or no instrument to run.")
    if session.mode == Mode.BROKER and (session.version is None or not session.version.is_approved):
        raise TradingSessionVersionNotApproved(f"{session.version or 'No version'} is not approved for broker orders.")


def _decimal(value: Any, field: str, what: str) -> Decimal:
    """``value`` as a number of the columns' four decimal places (a money or slippage column).

    :raises TradingSessionInvalid: not a finite number.
    """
    try:
        number = Decimal(str(value).strip())
        if number.is_finite():
            # Rounded as the column keeps it, so the bounds below hold for what is stored.
            return number.quantize(PLACES)
    except (InvalidOperation, ValueError):
        pass
    raise TradingSessionInvalid(f"The {what} is not a number.", field=field)


def _starting_equity(value: Any, mode: str) -> Decimal | None:
    if value is None or value == "":
        if mode == Mode.FORWARD:
            raise TradingSessionInvalid(
                "A forward test needs its starting equity: the paper cash it trades.", field="starting_equity"
            )
        return None
    equity = _decimal(value, "starting_equity", "starting equity")
    if equity < 0 or (mode == Mode.FORWARD and equity == 0) or equity > MAX_MONEY:
        raise TradingSessionInvalid(
            "The starting equity is above zero and at most 1,000,000,000,000.", field="starting_equity"
        )
    return equity


def _max_position(value: Any) -> int | None:
    if value is None or value == "":
        return None
    number = _decimal(value, "max_position", "maximum position")
    if isinstance(value, bool) or number != number.to_integral_value() or number <= 0 or number > 2**31 - 1:
        raise TradingSessionInvalid(
            "The maximum position is a whole number of shares above zero.", field="max_position"
        )
    return int(number)


def _max_daily_loss(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    loss = _decimal(value, "max_daily_loss", "maximum daily loss")
    if loss <= 0 or loss > MAX_MONEY:
        raise TradingSessionInvalid(
            "The maximum daily loss is above zero and at most 1,000,000,000,000.", field="max_daily_loss"
        )
    return loss


def _costs(fee_model: Any, slippage_model: Any, slippage_amount: Any) -> tuple[str, str, Decimal]:
    # The backtester's own models decide what is valid, so a session and a backtest agree.
    try:
        FeeModel(str(fee_model))
    except BadFeeModel as exc:
        raise TradingSessionInvalid(str(exc), field="fee_model") from None
    amount = _decimal(slippage_amount if slippage_amount not in (None, "") else 0, "slippage_amount", "slippage")
    if amount >= MAX_SLIPPAGE:
        raise TradingSessionInvalid("The slippage is below 1,000,000.", field="slippage_amount")
    try:
        SlippageModel(str(slippage_model), float(amount))
    except BadSlippageModel as exc:
        raise TradingSessionInvalid(str(exc), field="slippage_model") from None
    return str(fee_model), str(slippage_model), amount


def _instrument(instrument: Instrument | str | None) -> Instrument:
    if instrument is None or instrument == "":
        raise TradingSessionInvalid("Choose the instrument the session trades.", field="instrument")
    found = instrument_resolve(instrument.strip() if isinstance(instrument, str) else instrument)
    if not found.active:
        raise TradingSessionInvalid(f"The instrument {found.symbol} is not active.", field="instrument")
    return found


@transaction.atomic
def trading_session_create(
    *,
    strategy: Strategy,
    account: BrokerAccount,
    actor: User | None,
    version: StrategyVersion | None,
    instrument: Instrument | str | None,
    mode: str = Mode.FORWARD,
    resolution: str = resolutions.ONE_MINUTE.code,
    fee_model: str = "fixed",
    slippage_model: str = "none",
    slippage_amount: Decimal | str | float = 0,
    max_position: int | str | None = None,
    max_daily_loss: Decimal | str | None = None,
    starting_equity: Decimal | str | None = None,
    via: str,
) -> TradingSession:
    """Open a pending session of ``version`` of ``strategy`` on ``account``, trading ``instrument``.

    Starting it is ``trading_session_start``. ``instrument`` may be a symbol (resolved as order
    entry resolves it). A ``forward`` test needs ``starting_equity``, the paper cash it trades
    (above zero); a ``broker`` session may leave it out and then starts from the account's net
    liquidation value at its start. ``max_position`` (shares) and ``max_daily_loss`` (money) are
    the session's own limits, none when left out; the account's risk limits apply to a broker
    session's orders in any case. Fee and slippage models are the backtester's.

    :raises AccountNotMember, PermissionRequired: ``actor`` is not a member of ``account`` or
        may not add sessions.
    :raises StrategyNotAllowedOnAccount: the strategy lists accounts and this is not one of them.
    :raises StrategyDisabled: the strategy is disabled.
    :raises TradingSessionInvalid: a field is missing or wrong (``field`` names it): mode,
        version (missing, or of another strategy), instrument (missing or inactive),
        resolution, fee model, slippage, limits, starting equity.
    :raises InstrumentUnknown: no instrument has that symbol.
    :raises TradingSessionVersionNotApproved: a broker session of a version not approved.
    """
    require_actor(actor, account=account, perm="strategies.add_tradingsession")
    if mode not in Mode.values:
        raise TradingSessionInvalid(f"Use one of the modes {', '.join(Mode.values)}.", field="mode")
    equity = _starting_equity(starting_equity, mode)
    try:
        resolution = resolutions.parse(resolution).code
    except resolutions.BadResolution as exc:
        raise TradingSessionInvalid(str(exc), field="resolution") from None
    fee_model, slippage_model, slippage_amount = _costs(fee_model, slippage_model, slippage_amount)
    limits = {"max_position": _max_position(max_position), "max_daily_loss": _max_daily_loss(max_daily_loss)}
    instrument = _instrument(instrument)
    # Locked so a concurrent strategy_update cannot take the account away under the check.
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    allowed = strategy.accounts.all()
    if allowed.exists() and not allowed.filter(pk=account.pk).exists():
        raise StrategyNotAllowedOnAccount(f"Strategy {strategy.name} may not trade account {account.code}.")
    if not strategy.enabled:
        raise StrategyDisabled(f"Strategy {strategy.name} is disabled.")
    if version is None or version.strategy_id != strategy.pk:
        raise TradingSessionInvalid(f"Choose a version of {strategy.name} for the session to run.", field="version")
    session = TradingSession(
        strategy=strategy,
        account=account,
        starting_equity=equity,
        mode=mode,
        version=version,
        instrument=instrument,
        resolution=resolution,
        fee_model=fee_model,
        slippage_model=slippage_model,
        slippage_amount=slippage_amount,
        **limits,
    )
    session_version_check(session)
    session.save(force_insert=True)
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
            "mode": mode,
            "version": version.number,
            "instrument": instrument.symbol,
            "resolution": resolution,
            "fee_model": fee_model,
            "slippage_model": slippage_model,
            "slippage_amount": slippage_amount,
            **limits,
        },
        via=via,
    )
    return session
