"""The monitor's PnL: the per-process books caught up each run, a PnL point per account, sessions, today's PnL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from accounts.announce import announce_object
from accounts.models import Alert, BrokerAccount
from accounts.services import alert_raise
from orders import pnl
from orders.models import Fill, Instrument, PnLPoint
from orders.monitoring.books import AccountPnL, PnLTracker, books_differ
from orders.monitoring.common import MonitoringReport
from tradeconsole.db import commit_without_flush_wait


class PnLState:
    """What the loop keeps between runs in one worker process (rebuilt from PostgreSQL when absent)."""

    def __init__(self) -> None:
        self.tracker = PnLTracker()
        self.runs = 0


# This process's books; a test or a benchmark starts afresh by replacing it.
state = PnLState()


def instrument_prices() -> dict[int, Decimal | None]:
    """Return every instrument's last price (None when unknown), by instrument id."""
    return dict(Instrument.objects.values_list("id", "last_price"))


def pnl_update(
    *, now: datetime, report: MonitoringReport, account_ids: list[int] | None = None
) -> dict[int, AccountPnL]:
    """Catch the books up, check them against a full recompute when due, and store a PnL point per account.

    Returns each account's PnL (accounts without fills are absent).
    """
    tracker = state.tracker
    state.runs += 1
    if tracker.books is None:
        tracker.rebuild(now=now)
        report.full_recompute = True
    else:
        report.new_fills = tracker.catch_up(now=now)
        if state.runs % settings.MONITOR_FULL_RECOMPUTE_EVERY == 0:
            pnl_verify(report=report)
            report.full_recompute = True
    totals = tracker.pnl(instrument_prices())
    if account_ids is None:
        account_ids = list(BrokerAccount.objects.values_list("pk", flat=True))
    zero = AccountPnL(Decimal("0"), Decimal("0"))
    points = [
        PnLPoint(
            account_id=account_id,
            at=now,
            realized_pnl=totals.get(account_id, zero).realized.quantize(Decimal("0.0001")),
            unrealized_pnl=totals.get(account_id, zero).unrealized.quantize(Decimal("0.0001")),
        )
        for account_id in account_ids
    ]
    with transaction.atomic():
        # Points are derived from fills and rebuilt by the next run, so their commit need not
        # wait for the WAL flush; it is the larger part of a run's time on a busy disk.
        commit_without_flush_wait()
        PnLPoint.objects.bulk_create(points)
        announce_object(*points)
    report.pnl_points = len(points)
    return totals


def pnl_verify(*, report: MonitoringReport) -> list[tuple[int, int]]:
    """Recompute every book from all fills, alert on any book the incremental path got wrong, adopt the result.

    Returns the (account, instrument) keys that differed.
    """
    tracker = state.tracker
    incremental = tracker.books or {}
    full = tracker.rebuild()
    differing = books_differ(incremental, full)
    for account_id in sorted({account_id for account_id, _ in differing}):
        key = f"pnl.disagreement:{account_id}"
        alert_raise(
            key=key,
            kind="pnl.disagreement",
            message="The incremental PnL disagreed with a full recompute; the recompute was adopted.",
            severity=Alert.Severity.WARNING,
            account=BrokerAccount.objects.get(pk=account_id),
            data={"instruments": [i for a, i in differing if a == account_id]},
        )
        report.alerts.append(key)
    return differing


def sessions_update(*, now: datetime) -> int:
    """Value each running session's open lots at the last price; update unrealized PnL, peak and drawdown.

    Realized PnL, trades and wins are kept by ``fill_record`` fill by fill; the win rate is
    ``win_count / trade_count``. Returns how many sessions changed.
    """
    from strategies.models import TradingSession

    prices = instrument_prices()
    changed = 0
    for session_id in TradingSession.objects.filter(status=TradingSession.Status.RUNNING).values_list("pk", flat=True):
        with transaction.atomic():
            session = TradingSession.objects.select_for_update().get(pk=session_id)
            unrealized = Decimal("0")
            fills = (
                Fill.objects.filter(order__trading_session=session)
                .select_related("instrument")
                .order_by("executed_at", "id")
            )
            by_instrument: dict[int, list] = {}
            for fill in fills:
                by_instrument.setdefault(fill.instrument_id, []).append(fill)
            for instrument_id, rows in by_instrument.items():
                multiplier = rows[0].instrument.multiplier
                lots, _ = pnl.fifo_replay(rows, multiplier=multiplier)
                unrealized += pnl.unrealized(lots, prices.get(instrument_id), multiplier=multiplier)
            unrealized = unrealized.quantize(Decimal("0.0001"))
            total = session.realized_pnl + unrealized
            peak = max(session.peak_pnl, total)
            drawdown = max(session.max_drawdown, peak - total)
            if (unrealized, peak, drawdown) != (session.unrealized_pnl, session.peak_pnl, session.max_drawdown):
                session.unrealized_pnl, session.peak_pnl, session.max_drawdown = unrealized, peak, drawdown
                session.save(update_fields=["unrealized_pnl", "peak_pnl", "max_drawdown"])
                announce_object(session)
                changed += 1
    return changed


def _day_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def daily_pnl(*, account: BrokerAccount, now: datetime, total: AccountPnL | None) -> Decimal:
    """Return the account's PnL since the start of the desk's local day (realized plus change in unrealized).

    The baseline is the last PnL point before the day began; without one, the realized PnL of
    fills executed before today and no unrealized PnL.
    """
    total = total or AccountPnL(Decimal("0"), Decimal("0"))
    start = _day_start(now)
    baseline = PnLPoint.objects.filter(account=account, at__lt=start).order_by("-at").first()
    if baseline is not None:
        return total.total - baseline.total_pnl
    before = Fill.objects.filter(account=account, executed_at__lt=start).aggregate(s=Sum("realized_pnl"))["s"]
    return total.total - (before or Decimal("0"))
