"""Every write of backtests: requesting one, cancelling it, and the task's start, progress and end.

A request is checked whole before anything is written; the Celery task is enqueued once the
request's transaction has committed. The task's own writes are conditional on the backtest
still running, so a cancel in between always wins and is never overwritten.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from celery import current_app
from django.db import transaction
from django.utils import timezone

from accounts.exceptions import AccountNotMember
from accounts.models import User
from accounts.services import audit_record, require_actor
from marketdata import resolutions
from orders.models import Instrument
from strategies.backtest import BadSlippageModel, SlippageModel
from strategies.exceptions_backtests import BacktestInvalid, BacktestNotCancellable
from strategies.models import Backtest, StrategyVersion
from strategies.selectors import strategy_list

REQUEST_PERM = "strategies.add_backtest"
CANCEL_PERM = "strategies.change_backtest"
# The task by its name: services never import tasks (tasks call services).
RUN_TASK = "strategies.tasks.run_backtest"
MAX_SYMBOLS = 20
MAX_CASH = Decimal("1000000000000")
Status = Backtest.Status


def _invalid(message: str, field: str) -> BacktestInvalid:
    return BacktestInvalid(message, field=field)


def _symbols(symbols: Any) -> list[str]:
    if not isinstance(symbols, list) or not symbols or not all(isinstance(s, str) for s in symbols):
        raise _invalid("Give the symbols as a list of one or more tickers.", "symbols")
    names = list(dict.fromkeys(s.strip().upper() for s in symbols))
    if len(names) > MAX_SYMBOLS:
        raise _invalid(f"At most {MAX_SYMBOLS} symbols a backtest.", "symbols")
    known = set(Instrument.objects.filter(symbol__in=names).values_list("symbol", flat=True))
    unknown = [s for s in names if s not in known]
    if unknown:
        raise _invalid(f"The desk has no instrument {', '.join(unknown)}.", "symbols")
    return names


def _cash(value: Any) -> Decimal:
    try:
        cash = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise _invalid("The starting cash is not a number.", "starting_cash") from None
    if not cash.is_finite() or not Decimal(0) < cash <= MAX_CASH:
        raise _invalid("The starting cash must be above 0 and at most 1,000,000,000,000.", "starting_cash")
    return cash.quantize(Decimal("0.0001"))


@transaction.atomic
def backtest_request(
    *,
    actor: User | None,
    version: StrategyVersion,
    symbols: list[str],
    resolution: str,
    start: datetime,
    end: datetime,
    starting_cash: Decimal | str | float,
    fee_model: str = Backtest.FeeModel.FIXED,
    slippage_model: str = Backtest.Slippage.NONE,
    slippage_amount: Decimal | str | float = 0,
    via: str,
) -> Backtest:
    """Queue a backtest of ``version`` and enqueue its Celery task once committed; audited.

    :raises PermissionRequired: ``actor`` may not run backtests (Traders may).
    :raises AccountNotMember: the version's strategy trades none of ``actor``'s accounts.
    :raises BacktestInvalid: a field is wrong (``field`` names it); nothing is written.
    """
    require_actor(actor, perm=REQUEST_PERM)
    if actor is not None and not strategy_list(user=actor).filter(pk=version.strategy_id).exists():
        raise AccountNotMember("This strategy trades none of your accounts.")
    names = _symbols(symbols)
    try:
        resolution = resolutions.parse(resolution).code
    except resolutions.BadResolution as exc:
        raise _invalid(str(exc), "resolution") from None
    if not (isinstance(start, datetime) and isinstance(end, datetime) and start.tzinfo and end.tzinfo):
        raise _invalid("Give the start and end as instants with their time zone.", "start")
    if start >= end:
        raise _invalid("The start must come before the end.", "end")
    cash = _cash(starting_cash)
    if fee_model not in Backtest.FeeModel.values:
        raise _invalid(f"Use one of the fee models {', '.join(Backtest.FeeModel.values)}.", "fee_model")
    try:
        amount = Decimal(str(slippage_amount))
        SlippageModel(slippage_model, float(amount))
    except (InvalidOperation, ValueError, BadSlippageModel) as exc:
        raise _invalid(f"Bad slippage: {exc}", "slippage_model") from None
    backtest = Backtest.objects.create(
        version=version,
        symbols=names,
        resolution=resolution,
        start=start,
        end=end,
        starting_cash=cash,
        fee_model=fee_model,
        slippage_model=slippage_model,
        slippage_amount=amount,
        requested_by=actor,
    )
    audit_record(actor=actor, action="backtest.request", obj=backtest, after=_summary(backtest), via=via)
    transaction.on_commit(lambda: current_app.tasks[RUN_TASK].delay(backtest.pk))
    return backtest


def _summary(backtest: Backtest) -> dict:
    return {
        "version": backtest.version_id,
        "symbols": backtest.symbols,
        "resolution": backtest.resolution,
        "start": backtest.start.isoformat(),
        "end": backtest.end.isoformat(),
        "starting_cash": str(backtest.starting_cash),
        "fee_model": backtest.fee_model,
        "slippage": f"{backtest.slippage_amount} {backtest.slippage_model}",
        "status": backtest.status,
    }


@transaction.atomic
def backtest_cancel(*, actor: User | None, backtest: Backtest, via: str) -> Backtest:
    """Cancel a queued or running backtest; a running task stops before its next chunk of bars. Audited.

    :raises PermissionRequired: ``actor`` may not cancel backtests.
    :raises BacktestNotCancellable: it has already finished (done, failed or cancelled).
    """
    require_actor(actor, perm=CANCEL_PERM)
    locked = Backtest.objects.select_for_update().get(pk=backtest.pk)
    if locked.is_final:
        raise BacktestNotCancellable(f"The backtest is already {locked.status}.")
    before = locked.status
    locked.status, locked.finished_at = Status.CANCELLED, timezone.now()
    locked.save(update_fields=["status", "finished_at"])
    audit_record(
        actor=actor,
        action="backtest.cancel",
        obj=locked,
        before={"status": before},
        after={"status": locked.status},
        via=via,
    )
    return locked


@transaction.atomic
def backtest_start(*, backtest_id: int) -> Backtest | None:
    """Take a queued backtest as running; None when it is no longer queued (cancelled, or already taken)."""
    locked = Backtest.objects.select_for_update().filter(pk=backtest_id, status=Status.QUEUED).first()
    if locked is None:
        return None
    locked.status, locked.started_at, locked.progress = Status.RUNNING, timezone.now(), 0
    locked.save(update_fields=["status", "started_at", "progress"])
    return locked


def backtest_progress(*, backtest_id: int, progress: int) -> bool:
    """Save a running backtest's progress (0-100); False when it is no longer running (cancelled)."""
    progress = max(0, min(100, int(progress)))
    return bool(Backtest.objects.filter(pk=backtest_id, status=Status.RUNNING).update(progress=progress))


@transaction.atomic
def backtest_finish(*, backtest_id: int, results: dict) -> bool:
    """Store a running backtest's results as done (audited); False when it was cancelled meanwhile."""
    locked = Backtest.objects.select_for_update().filter(pk=backtest_id, status=Status.RUNNING).first()
    if locked is None:
        return False
    locked.status, locked.progress, locked.results, locked.finished_at = Status.DONE, 100, results, timezone.now()
    locked.save(update_fields=["status", "progress", "results", "finished_at"])
    audit_record(actor=None, action="backtest.done", obj=locked, after={"metrics": results.get("metrics")}, via="task")
    return True


@transaction.atomic
def backtest_fail(*, backtest_id: int, code: str, message: str) -> bool:
    """Mark a running backtest failed with a stable ``code`` (audited); False when it was no longer running."""
    locked = Backtest.objects.select_for_update().filter(pk=backtest_id, status=Status.RUNNING).first()
    if locked is None:
        return False
    locked.status, locked.error_code, locked.error = Status.FAILED, code[:64], message
    locked.finished_at = timezone.now()
    locked.save(update_fields=["status", "error_code", "error", "finished_at"])
    audit_record(actor=None, action="backtest.failed", obj=locked, after={"code": code, "error": message}, via="task")
    return True
