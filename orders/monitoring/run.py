"""The monitoring loop (issue 6): one run keeps every account's book true and protected.

A run, at most one at a time across every Celery worker (a PostgreSQL advisory lock; a run that
finds it held does nothing), does in order:

1. asks the worker to refresh positions and account values (``broker.refresh``) within a
   broker-message budget (``MONITOR_BROKER_MESSAGES_PER_SECOND``), so orders keep their headroom,
   and publishes again any account's risk limits Redis has lost (a restart without persistence),
   without which the worker refuses every order of the account;
2. catches the FIFO PnL books up with the new fills, checks them against a full recompute every
   ``MONITOR_FULL_RECOMPUTE_EVERY`` runs, and stores one ``PnLPoint`` per account;
3. updates each running trading session's unrealized PnL, peak and maximum drawdown (realized
   PnL, trades and wins follow each fill in ``fill_record``);
4. compares the broker's positions with the book: a mismatch halts the account (fail closed) and
   raises a critical alert that a Risk manager must acknowledge (audited); a position without a
   recent broker report is never read as flat, it raises its own alert;
5. gives every position whose policy asks for it a protective stop-loss and/or take-profit (an
   OCA pair where both apply), once, and not again while one is working; keeps their quantity
   in step with the position and cancels them when the position is flat;
6. re-prices stale limit orders toward the touch (or cancels them) and re-places orders
   rejected for a transient reason, at most the configured number of times, each action an
   ``OrderEvent`` with its reason;
7. raises (once) and resolves alerts: gateway disconnected, worker or bridge heartbeat missing,
   stream lag, outbox backlog, dead letters, and the daily loss limit (which halts the account).

Policies come from the account's ``RiskLimit`` (``stop_loss_pct``, ``take_profit_pct``,
``stale_order_seconds``, ``stale_order_action``, ``stale_reprice_max``, ``reject_retry_max``);
a running strategy's ``parameters`` with the same names override them for its instruments.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import redis
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from accounts.exceptions import PermissionRequired
from accounts.models import Alert, BrokerAccount, OutboxMessage, ProcessHeartbeat, Role, User
from accounts.selectors import user_has_role
from accounts.services import (
    account_halt,
    alert_acknowledge,
    alert_raise,
    alert_resolve,
    jsonable,
    outbox_enqueue,
)
from orders import monitoring_pnl
from orders.models import (
    Fill,
    Instrument,
    OcaType,
    Order,
    OrderEvent,
    OrderSource,
    OrderStatus,
    OrderType,
    PnLPoint,
    Position,
    RiskLimit,
    Side,
    TimeInForce,
)
from orders.selectors import risk_limit_for_account
from orders.transitions import OPEN_STATUSES
from tradeconsole.clock import desk_time
from tradeconsole.db import commit_without_flush_wait
from tradeconsole.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# pg_try_advisory_lock key of the monitoring run ("tcmon" in ASCII); advisory locks are per database.
MONITOR_LOCK_KEY = 0x7463_6D6F_6E
PROTECT_PREFIX = "protect:"
HUNDRED = Decimal("100")
# Rejections worth re-placing: the gate's rate limit, IB pacing, and a gateway that was not ready.
TRANSIENT_REJECT_CODES = frozenset(
    {"risk.rate", "broker.100", "broker.1100", "broker.502", "broker.504", "gateway.not_ready", "worker.not_ready"}
)
# A rejected order older than this is history, not something to re-place.
REJECT_RETRY_WINDOW = timedelta(minutes=10)
# After this many broker rejections of its protective orders a position is left to the desk.
PROTECTION_ATTEMPTS = 3
RETRY_NAMESPACE = uuid.UUID("0b7d1c52-5a0e-4c1b-8e8f-2f4f3d0f6a21")


# --- the run ------------------------------------------------------------------------------------


@dataclass
class MonitoringReport:
    """What one monitoring run did (``ran`` is False when another run held the lock)."""

    ran: bool = True
    accounts: int = 0
    refresh_sent: bool = False
    limits_republished: list[str] = field(default_factory=list)
    new_fills: int = 0
    full_recompute: bool = False
    pnl_points: int = 0
    mismatches: list[str] = field(default_factory=list)
    protective_orders: list[str] = field(default_factory=list)
    repriced: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    halted: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    duration_ms: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def advisory_lock(key: int) -> Iterator[bool]:
    """Hold the session-level advisory lock ``key`` if it is free; yield whether it was taken.

    The lock dies with its connection, so a run killed with its process or its connection
    never leaves the loop locked. The SQLite quick start has no advisory locks; there a Redis
    lock with an expiry does the same job.
    """
    if connection.vendor != "postgresql":
        with _redis_lock(key) as taken:
            yield taken
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        taken = bool(cursor.fetchone()[0])
    try:
        yield taken
    finally:
        if taken:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:
                # The connection is gone, and the lock with it.
                logger.warning("could not release the monitoring lock; its connection is gone")


@contextlib.contextmanager
def _redis_lock(key: int) -> Iterator[bool]:
    """Hold a Redis lock named after ``key`` if it is free; yield whether it was taken.

    It expires on its own after ten monitoring intervals, so a run killed with its process
    cannot leave the loop locked for long; it is released only by the run that holds it.
    """
    name = f"{settings.STREAM_PREFIX}:lock:{key}"
    token = uuid.uuid4().hex
    ttl_ms = settings.MONITOR_INTERVAL_SECONDS * 10_000
    taken = bool(_redis().set(name, token, nx=True, px=ttl_ms))
    try:
        yield taken
    finally:
        if taken:
            _redis().eval(_RELEASE_IF_OWNER, 1, name, token)


# Delete the lock only if it still holds our token (it may have expired and been retaken).
_RELEASE_IF_OWNER = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@functools.lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    # Short timeouts: a dead Redis must cost a monitoring run seconds, not its whole interval.
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


class _State:
    """What the loop keeps between runs in one worker process (rebuilt from PostgreSQL when absent)."""

    def __init__(self) -> None:
        self.tracker = monitoring_pnl.PnLTracker()
        self.runs = 0


_state = _State()


def monitoring_run(*, now: datetime | None = None) -> MonitoringReport:
    """Run the monitoring loop once over every account, unless another run is in progress.

    Each step of each account commits on its own; a refusal or a bug in one is logged and
    reported, and the run goes on. A database failure ends the run (the next one reconnects).

    :raises DatabaseError: the database failed under the run.
    """
    started = time.perf_counter()
    with advisory_lock(MONITOR_LOCK_KEY) as taken:
        if not taken:
            return MonitoringReport(ran=False)
        now = now or timezone.now()
        report = MonitoringReport()
        accounts = list(BrokerAccount.objects.select_related("risk_limit").order_by("pk"))
        report.accounts = len(accounts)
        report.refresh_sent = broker_refresh_request(now=now, accounts=len(accounts)) is not None
        _guarded(risk_limits_ensure, accounts=accounts, report=report)
        totals = pnl_update(now=now, report=report, account_ids=[account.pk for account in accounts])
        sessions_update(now=now)
        for account in accounts:
            for step in (positions_compare, protection_ensure, stale_orders_handle, rejected_orders_replace):
                _guarded(step, account=account, now=now, report=report)
            _guarded(daily_loss_check, account=account, now=now, report=report, totals=totals)
        _guarded(system_alerts, now=now, report=report)
        # Beat only when a run got through: a run that raises leaves the heartbeat to age, which the
        # System page shows, instead of saying "running" while every run fails.
        _heartbeat(now, errors=len(report.errors))
        report.duration_ms = (time.perf_counter() - started) * 1000
        return report


def _guarded(step, *, report: MonitoringReport, **kwargs) -> None:
    try:
        step(report=report, **kwargs)
    except DatabaseError:
        raise
    except Exception as exc:
        # One account's bad data must not leave every other account unmonitored.
        logger.exception("monitoring step %s failed", step.__name__)
        report.errors.append(f"{step.__name__}: {exc}")


def _heartbeat(now: datetime, *, errors: int) -> None:
    state = "running" if not errors else f"running, {errors} step(s) failed"
    ProcessHeartbeat.objects.update_or_create(name="monitor", defaults={"last_seen_at": now, "state": state})


# --- 1. broker refresh ------------------------------------------------------------------------------


def risk_limits_ensure(*, accounts: list[BrokerAccount], report: MonitoringReport) -> list[str]:
    """Publish again the risk limits of every account whose key Redis no longer holds; return their codes.

    Redis is a transport (design invariant 5): a restart without persistence loses the limits the
    worker reads, and the worker then refuses every order of the account (``risk.no_limits``). An
    account whose publication is still in the outbox is left to the relay, so a stopped relay does
    not collect a copy every run. Each account is checked and published under the lock
    ``risk_limit_update`` takes on its limits: a change saved meanwhile is either already queued
    (and nothing is added) or committed before these limits are read, so an older copy is never
    queued behind a newer one, which the relay would publish last.

    :raises redis.RedisError: Redis cannot be read (the run reports it and goes on).
    """
    from execution_worker.messages import StreamNames
    from orders.services import risk_limits_publish

    if not accounts:
        return []
    names = StreamNames(settings.STREAM_PREFIX)
    pipe = _redis().pipeline(transaction=False)
    for account in accounts:
        pipe.exists(names.risk_limits(account.code))
    missing = [account for account, present in zip(accounts, pipe.execute(), strict=True) if not present]
    if not missing:
        return []
    for account in missing:
        with transaction.atomic():
            # Waits for a risk_limit_update in flight; its publication is then visible below.
            RiskLimit.objects.select_for_update().filter(account=account).first()
            queued = OutboxMessage.objects.filter(
                stream="risk", published_at__isnull=True, data__account=account.code
            ).exists()
            if not queued:
                risk_limits_publish(account=account)
                report.limits_republished.append(account.code)
    if report.limits_republished:
        logger.warning("risk limits missing in Redis, published again: %s", ", ".join(report.limits_republished))
    return report.limits_republished


def refresh_cost(what: tuple[str, ...], accounts: int) -> int:
    """Return how many requests the worker sends TWS for one ``broker.refresh`` of ``what``.

    Positions, open orders and executions are one request each for every account; account
    values are counted once per account, the worst case of IB's per-account updates.
    """
    return sum(max(1, accounts) if item == "account" else 1 for item in what)


def broker_refresh_request(*, now: datetime, accounts: int, what=("positions", "account")) -> OutboxMessage | None:
    """Queue a ``broker.refresh`` unless it would take the average broker traffic over the budget.

    The budget is ``MONITOR_BROKER_MESSAGES_PER_SECOND``: a refresh costing ``c`` requests waits
    at least ``c / rate`` seconds after the previous one. Returns the outbox row, or None.
    """
    cost = refresh_cost(tuple(what), accounts)
    spacing = timedelta(seconds=cost / settings.MONITOR_BROKER_MESSAGES_PER_SECOND)
    last = OutboxMessage.objects.filter(type="broker.refresh").aggregate(at=Max("created_at"))["at"]
    if last is not None and now - last < spacing:
        return None
    return outbox_enqueue(type="broker.refresh", data={"what": list(what)})


# --- 2. PnL ----------------------------------------------------------------------------------------


def _prices() -> dict[int, Decimal | None]:
    return dict(Instrument.objects.values_list("id", "last_price"))


def pnl_update(
    *, now: datetime, report: MonitoringReport, account_ids: list[int] | None = None
) -> dict[int, monitoring_pnl.AccountPnL]:
    """Catch the books up, check them against a full recompute when due, and store a PnL point per account.

    Returns each account's PnL (accounts without fills are absent).
    """
    tracker = _state.tracker
    _state.runs += 1
    if tracker.books is None:
        tracker.rebuild(now=now)
        report.full_recompute = True
    else:
        report.new_fills = tracker.catch_up(now=now)
        if _state.runs % settings.MONITOR_FULL_RECOMPUTE_EVERY == 0:
            pnl_verify(report=report)
            report.full_recompute = True
    totals = tracker.pnl(_prices())
    if account_ids is None:
        account_ids = list(BrokerAccount.objects.values_list("pk", flat=True))
    zero = monitoring_pnl.AccountPnL(Decimal("0"), Decimal("0"))
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
    report.pnl_points = len(points)
    return totals


def pnl_verify(*, report: MonitoringReport) -> list[tuple[int, int]]:
    """Recompute every book from all fills, alert on any book the incremental path got wrong, adopt the result.

    Returns the (account, instrument) keys that differed.
    """
    tracker = _state.tracker
    incremental = tracker.books or {}
    full = tracker.rebuild()
    differing = monitoring_pnl.books_differ(incremental, full)
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


# --- 3. trading sessions ---------------------------------------------------------------------------


def sessions_update(*, now: datetime) -> int:
    """Value each running session's open lots at the last price; update unrealized PnL, peak and drawdown.

    Realized PnL, trades and wins are kept by ``fill_record`` fill by fill; the win rate is
    ``win_count / trade_count``. Returns how many sessions changed.
    """
    from orders import pnl
    from strategies.models import TradingSession

    prices = _prices()
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
                changed += 1
    return changed


# --- policy -------------------------------------------------------------------------------------------

# The RiskLimit fields (and strategy parameters of the same names) that make an account's policy.
POLICY_FIELDS = (
    "stop_loss_pct",
    "take_profit_pct",
    "stale_order_seconds",
    "stale_order_action",
    "stale_reprice_max",
    "reject_retry_max",
)


@dataclass(frozen=True)
class Policy:
    """What the monitor does for one account and instrument."""

    stop_loss_pct: Decimal | None = None
    take_profit_pct: Decimal | None = None
    stale_order_seconds: int | None = None
    stale_order_action: str = "reprice"
    stale_reprice_max: int = 3
    reject_retry_max: int = 0

    @property
    def wants_protection(self) -> bool:
        return bool(self.stop_loss_pct) or bool(self.take_profit_pct)


def _coerce(name: str, value):
    if value in (None, ""):
        return None
    if name in ("stop_loss_pct", "take_profit_pct"):
        return Decimal(str(value))
    if name == "stale_order_action":
        return str(value) if str(value) in ("reprice", "cancel") else "reprice"
    return int(value)


def policy_for(
    *, account: BrokerAccount, instrument: Instrument | None = None, limits: RiskLimit | None = None
) -> Policy:
    """Return the monitor's policy for ``account`` (and ``instrument``).

    The account's ``RiskLimit`` gives the defaults; the parameters of the most recently started
    running trading session on the account that has traded ``instrument`` override them.
    """
    from strategies.models import TradingSession

    limits = limits or risk_limit_for_account(account)
    values = {name: getattr(limits, name) for name in POLICY_FIELDS}
    if instrument is not None:
        session = (
            TradingSession.objects.filter(
                account=account, status=TradingSession.Status.RUNNING, orders__instrument=instrument
            )
            .select_related("strategy")
            .order_by("-started_at", "-pk")
            .first()
        )
        if session is not None:
            for name in POLICY_FIELDS:
                if name in (session.strategy.parameters or {}):
                    values[name] = session.strategy.parameters[name]
    coerced = {name: _coerce(name, value) for name, value in values.items()}
    for name, default in (("stale_order_action", "reprice"), ("stale_reprice_max", 3), ("reject_retry_max", 0)):
        if coerced[name] is None:
            coerced[name] = default
    return Policy(**coerced)


# --- 4. broker positions against the book -------------------------------------------------------------


def _mismatch_key(account: BrokerAccount, instrument: Instrument) -> str:
    return f"position.mismatch:{account.code}:{instrument.symbol}"


def _open_alert(key: str) -> Alert | None:
    return Alert.objects.exclude(status=Alert.Status.RESOLVED).filter(key=key).first()


def positions_compare(*, account: BrokerAccount, now: datetime, report: MonitoringReport) -> None:
    """Compare each position's broker report with the book; halt the account on a mismatch.

    A report counts only when it is recent (``MONITOR_POSITION_REPORT_MAX_AGE_SECONDS``) and
    newer than the last fill of that position (else the broker may simply not have seen it yet).
    A position the book holds without such a report is unreported, never flat: it raises a
    warning and is not compared. A mismatch halts the account once per open alert; the alert
    stays until a Risk manager acknowledges it and the positions agree again.
    """
    max_age = timedelta(seconds=settings.MONITOR_POSITION_REPORT_MAX_AGE_SECONDS)
    positions = Position.objects.filter(account=account).select_related("instrument")
    last_fills = dict(
        Fill.objects.filter(account=account)
        .values("instrument_id")
        .annotate(at=Max("created_at"))
        .values_list("instrument_id", "at")
    )
    for position in positions:
        instrument = position.instrument
        unreported_key = f"position.unreported:{account.code}:{instrument.symbol}"
        reported = position.broker_reported_at is not None and position.broker_quantity is not None
        if not reported or now - position.broker_reported_at > max_age:
            if position.quantity != 0:
                alert = alert_raise(
                    key=unreported_key,
                    kind="position.unreported",
                    message=f"{account.code} {instrument.symbol}: the book holds {position.quantity.normalize():f} "
                    "and the broker has not reported this position recently; it is not assumed flat.",
                    severity=Alert.Severity.WARNING,
                    account=account,
                )
                report.alerts.append(alert.key)
            continue
        alert_resolve(key=unreported_key)
        last_fill = last_fills.get(instrument.pk)
        if last_fill is not None and position.broker_reported_at < last_fill:
            continue
        key = _mismatch_key(account, instrument)
        if position.broker_quantity != position.quantity:
            if _open_alert(key) is None:
                with transaction.atomic():
                    alert_raise(
                        key=key,
                        kind="position.mismatch",
                        message=f"{account.code} {instrument.symbol}: broker {position.broker_quantity.normalize():f}, "
                        f"book {position.quantity.normalize():f}. New orders are halted until a Risk manager "
                        "acknowledges this and resumes the account.",
                        severity=Alert.Severity.CRITICAL,
                        account=account,
                        data={
                            "symbol": instrument.symbol,
                            "broker_quantity": position.broker_quantity,
                            "book_quantity": position.quantity,
                            "reported_at": position.broker_reported_at,
                        },
                    )
                    account_halt(
                        account=account,
                        actor=None,
                        reason=f"position mismatch in {instrument.symbol}: broker "
                        f"{position.broker_quantity.normalize():f}, book {position.quantity.normalize():f}",
                        via="monitor",
                    )
                report.mismatches.append(key)
                report.halted.append(account.code)
        else:
            alert = _open_alert(key)
            if alert is not None and alert.status == Alert.Status.ACKNOWLEDGED:
                alert_resolve(key=key)


@transaction.atomic
def position_mismatch_acknowledge(*, alert: Alert, actor: User, via: str) -> Alert:
    """Acknowledge a position-mismatch alert; only a Risk manager may (audited by ``alert_acknowledge``).

    The account stays halted: resuming it is a separate, audited ``account_resume``.

    :raises PermissionRequired: ``actor`` is not a Risk manager, or the alert is not a mismatch.
    """
    if alert.kind != "position.mismatch":
        raise PermissionRequired("Only position-mismatch alerts are acknowledged here.")
    if not user_has_role(actor, Role.RISK_MANAGER):
        raise PermissionRequired("A position mismatch must be acknowledged by a Risk manager.")
    return alert_acknowledge(alert=alert, actor=actor, via=via)


# --- 5. protection -----------------------------------------------------------------------------------------


def protective_orders(*, account: BrokerAccount, instrument: Instrument, statuses=OPEN_STATUSES):
    """Return the account's protective orders in ``instrument`` (monitor-placed, OCA group ``protect:…``)."""
    return Order.objects.filter(
        account=account,
        instrument=instrument,
        source=OrderSource.MONITOR,
        oca_group__startswith=PROTECT_PREFIX,
        status__in=statuses,
    )


def _round(price: Decimal, tick: Decimal, rounding: str) -> Decimal:
    return (price / tick).quantize(Decimal("1"), rounding=rounding) * tick


def protective_prices(
    *, quantity: Decimal, average_cost: Decimal, policy: Policy, tick: Decimal
) -> tuple[Decimal | None, Decimal | None]:
    """Return (stop price, take-profit limit) for a position, on the instrument's tick.

    A long is protected below its cost by the stop and above it by the take-profit, a short the
    other way round; each price is rounded away from the cost so the protection never tightens.
    """
    long = quantity > 0
    stop = take = None
    if policy.stop_loss_pct:
        move = average_cost * policy.stop_loss_pct / HUNDRED
        stop = (
            _round(average_cost - move, tick, ROUND_FLOOR) if long else _round(average_cost + move, tick, ROUND_CEILING)
        )
    if policy.take_profit_pct:
        move = average_cost * policy.take_profit_pct / HUNDRED
        take = (
            _round(average_cost + move, tick, ROUND_CEILING) if long else _round(average_cost - move, tick, ROUND_FLOOR)
        )
    return stop, take


def protection_ensure(*, account: BrokerAccount, now: datetime, report: MonitoringReport) -> None:
    """Protect each open position its policy asks to protect; once, and not again while protection works.

    Flat positions have their leftover protective orders cancelled; a position whose size
    changed has its working protective orders resized. Refusals raise one alert per position
    and stop further attempts until the alert is resolved.
    """
    from orders.services import order_cancel, order_modify

    positions = Position.objects.filter(account=account).select_related("instrument")
    for position in positions:
        instrument = position.instrument
        working = list(protective_orders(account=account, instrument=instrument))
        if position.quantity == 0:
            for order in working:
                if order.status != OrderStatus.CANCEL_REQUESTED:
                    _try(order_cancel, order=order, actor=None, reason="position is flat", via="monitor")
                    report.cancelled.append(str(order.client_order_id))
            continue
        exit_side = Side.SELL if position.quantity > 0 else Side.BUY
        for order in working:
            if order.side != exit_side and order.status != OrderStatus.CANCEL_REQUESTED:
                _try(order_cancel, order=order, actor=None, reason="position changed side", via="monitor")
                report.cancelled.append(str(order.client_order_id))
        working = [o for o in working if o.side == exit_side and o.status != OrderStatus.CANCEL_REQUESTED]
        size = abs(position.quantity)
        if working:
            for order in working:
                if order.remaining_quantity != size and order.status != OrderStatus.SUBMIT_UNKNOWN:
                    _try(order_modify, order=order, actor=None, quantity=order.filled_quantity + size, via="monitor")
            continue
        policy = policy_for(account=account, instrument=instrument)
        if not policy.wants_protection:
            continue
        refused_key = f"protection.refused:{account.code}:{instrument.symbol}"
        if _open_alert(refused_key) is not None:
            continue
        since = _position_opened_at(position)
        rejected = protective_orders(account=account, instrument=instrument, statuses=[OrderStatus.REJECTED]).filter(
            created_at__gte=since
        )
        if since is not None and rejected.count() >= PROTECTION_ATTEMPTS:
            alert_raise(
                key=refused_key,
                kind="protection.refused",
                message=f"{account.code} {instrument.symbol}: the broker rejected its protective orders "
                f"{PROTECTION_ATTEMPTS} times; the position is unprotected.",
                severity=Alert.Severity.CRITICAL,
                account=account,
            )
            report.alerts.append(refused_key)
            continue
        placed = protection_place(position=position, policy=policy, report=report)
        report.protective_orders.extend(str(order.client_order_id) for order in placed)


def _try(service, **kwargs):
    try:
        return service(**kwargs)
    except ApplicationError as exc:
        logger.info("monitor action %s refused: %s", service.__name__, exc.code)
        return None


@transaction.atomic
def protection_place(*, position: Position, policy: Policy, report: MonitoringReport) -> list[Order]:
    """Place the protective stop-loss and/or take-profit of ``position`` (one OCA group), unless one works.

    The position row is locked first and the check for working protective orders repeated
    under the lock, so two monitors can never both protect it. A refused leg raises an alert
    and the other leg is still placed. Returns the orders placed.
    """
    from orders.services import order_submit

    position = Position.objects.select_for_update().select_related("account", "instrument").get(pk=position.pk)
    account, instrument = position.account, position.instrument
    if position.quantity == 0 or protective_orders(account=account, instrument=instrument).exists():
        return []
    stop, take = protective_prices(
        quantity=position.quantity, average_cost=position.average_cost, policy=policy, tick=instrument.min_tick
    )
    side = Side.SELL if position.quantity > 0 else Side.BUY
    group = f"{PROTECT_PREFIX}{account.code}:{instrument.symbol}:{uuid.uuid4().hex[:12]}"
    legs = []
    if stop is not None:
        legs.append(("stop-loss", {"order_type": OrderType.STOP, "stop_price": stop}))
    if take is not None:
        legs.append(("take-profit", {"order_type": OrderType.LIMIT, "limit_price": take}))
    placed, refused = [], []
    for name, prices in legs:
        try:
            with transaction.atomic():
                placed.append(
                    order_submit(
                        actor=None,
                        account=account,
                        instrument=instrument,
                        side=side,
                        quantity=abs(position.quantity),
                        tif=TimeInForce.GTC,
                        oca_group=group,
                        # At the broker: a fill of one leg reduces the other by as much (a full fill
                        # cancels it), with block, so the pair never closes more than the position.
                        oca_type=OcaType.REDUCE_BLOCK,
                        source=OrderSource.MONITOR,
                        via="monitor",
                        **prices,
                    )
                )
        except ApplicationError as exc:
            refused.append(f"{name}: {exc.code}: {exc.message}")
    for order in placed:
        OrderEvent.objects.create(
            order=order,
            kind="monitor.protect",
            to_status=order.status,
            detail=f"protects {position.quantity.normalize():f} {instrument.symbol} at cost "
            f"{position.average_cost.normalize():f}",
            data=jsonable(
                {"oca_group": group, "stop_loss_pct": policy.stop_loss_pct, "take_profit_pct": policy.take_profit_pct}
            ),
        )
    if refused:
        key = f"protection.refused:{account.code}:{instrument.symbol}"
        alert_raise(
            key=key,
            kind="protection.refused",
            message=f"{account.code} {instrument.symbol}: protective order refused ({'; '.join(refused)})"[:500],
            severity=Alert.Severity.CRITICAL,
            account=account,
        )
        report.alerts.append(key)
    return placed


def _position_opened_at(position: Position) -> datetime | None:
    return position.lots.order_by("opened_at").values_list("opened_at", flat=True).first()


@dataclass(frozen=True)
class UnprotectedPosition:
    """A position whose policy asks for protection and that has no working protective order."""

    account: str
    symbol: str
    quantity: Decimal
    average_cost: Decimal
    since: datetime | None
    seconds: float | None
    wants_stop_loss: bool
    wants_take_profit: bool


def unprotected_positions(*, user: User, now: datetime | None = None) -> list[UnprotectedPosition]:
    """Return the open positions of ``user``'s accounts that should be protected and are not, longest first.

    ``since`` is when the position last became unprotected: when it was opened, or when its
    last protective order ended, whichever is later.
    """
    from accounts.selectors import accounts_for_user

    now = now or timezone.now()
    found = []
    positions = (
        Position.objects.filter(account__in=accounts_for_user(user))
        .exclude(quantity=0)
        .select_related("account", "instrument")
    )
    for position in positions:
        account, instrument = position.account, position.instrument
        policy = policy_for(account=account, instrument=instrument)
        if not policy.wants_protection or protective_orders(account=account, instrument=instrument).exists():
            continue
        opened = _position_opened_at(position)
        ended = (
            protective_orders(account=account, instrument=instrument, statuses=[s for s in OrderStatus.values])
            .exclude(status__in=OPEN_STATUSES)
            .aggregate(at=Max("updated_at"))["at"]
        )
        since = max(filter(None, [opened, ended]), default=None)
        found.append(
            UnprotectedPosition(
                account=account.code,
                symbol=instrument.symbol,
                quantity=position.quantity,
                average_cost=position.average_cost,
                since=since,
                seconds=(now - since).total_seconds() if since else None,
                wants_stop_loss=bool(policy.stop_loss_pct),
                wants_take_profit=bool(policy.take_profit_pct),
            )
        )
    return sorted(found, key=lambda item: -(item.seconds or 0))


# --- 6. stale and rejected orders ------------------------------------------------------------------------


def touch_price(instrument: Instrument, side: str) -> Decimal | None:
    """Return the price a re-priced order moves toward: the far touch (ask to buy, bid to sell).

    Read from the newest entry of the instrument's market-data stream when it is recent;
    otherwise the instrument's last price. None when neither is known.
    """
    from execution_worker.messages import MessageError, StreamNames, decode

    try:
        entries = _redis().xrevrange(StreamNames(settings.STREAM_PREFIX).md(instrument.symbol), count=1)
    except Exception:
        # Market data is a transport; without it the last price still gives a direction.
        logger.warning("market data for %s unavailable", instrument.symbol, exc_info=True)
        entries = []
    if entries:
        try:
            tick = decode(entries[0][1])
            recent = time.time_ns() - int(tick.ts) < 10 * 1_000_000_000
            quote = tick.ask if side == Side.BUY else tick.bid
            if recent and quote:
                return Decimal(quote)
        except (MessageError, AttributeError, ValueError):
            logger.warning("undecodable market data for %s", instrument.symbol)
    return instrument.last_price


def repriced_limit(*, limit: Decimal, touch: Decimal, side: str, tick: Decimal) -> Decimal:
    """Return a limit moved halfway to ``touch`` (at least one tick, never past it), on the tick."""
    if side == Side.BUY:
        if limit >= touch:
            return limit
        return min(touch, max(limit + tick, _round((limit + touch) / 2, tick, ROUND_CEILING)))
    if limit <= touch:
        return limit
    return max(touch, min(limit - tick, _round((limit + touch) / 2, tick, ROUND_FLOOR)))


def stale_orders_handle(*, account: BrokerAccount, now: datetime, report: MonitoringReport) -> None:
    """Re-price toward the touch, or cancel, the account's limit orders working longer than the policy allows.

    Protective orders are left alone. An order is re-priced at most ``stale_reprice_max`` times
    and then cancelled; each action writes an ``OrderEvent`` (``monitor.repriced`` or the
    cancel's own event) with the reason.
    """
    from orders.services import order_cancel, order_modify

    orders = (
        Order.objects.filter(
            account=account,
            order_type=OrderType.LIMIT,
            status__in=[OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED],
        )
        .exclude(oca_group__startswith=PROTECT_PREFIX)
        .select_related("instrument")
    )
    policies: dict[int, Policy] = {}
    for order in orders:
        policy = policies.get(order.instrument_id) or policy_for(account=account, instrument=order.instrument)
        policies[order.instrument_id] = policy
        if not policy.stale_order_seconds:
            continue
        repricings = list(order.events.filter(kind="monitor.repriced").values_list("created_at", flat=True))
        working_since = max([order.submitted_at or order.created_at, *repricings])
        age = (now - working_since).total_seconds()
        if age < policy.stale_order_seconds:
            continue
        reason = f"stale: working {age:.0f} s, over the {policy.stale_order_seconds} s the policy allows"
        touch = touch_price(order.instrument, order.side)
        target = (
            repriced_limit(limit=order.limit_price, touch=touch, side=order.side, tick=order.instrument.min_tick)
            if touch is not None
            else order.limit_price
        )
        if (
            policy.stale_order_action == "cancel"
            or len(repricings) >= policy.stale_reprice_max
            or target == order.limit_price
        ):
            if _try(order_cancel, order=order, actor=None, reason=reason, via="monitor") is not None:
                report.cancelled.append(str(order.client_order_id))
            continue
        with transaction.atomic():
            modified = _try(order_modify, order=order, actor=None, limit_price=target, via="monitor")
            if modified is None:
                continue
            OrderEvent.objects.create(
                order=order,
                kind="monitor.repriced",
                from_status=modified.status,
                to_status=modified.status,
                detail=f"{reason}; limit {order.limit_price.normalize():f} → {target.normalize():f} toward the touch "
                f"{touch.normalize():f}",
                data=jsonable(
                    {"from": order.limit_price, "to": target, "touch": touch, "repricing": len(repricings) + 1}
                ),
            )
        report.repriced.append(str(order.client_order_id))


def replacement_client_order_id(original: Order) -> uuid.UUID:
    """Return the client order id of the re-placement of ``original`` (stable, so it is placed once)."""
    return uuid.uuid5(RETRY_NAMESPACE, str(original.client_order_id))


def _attempt(order: Order) -> int:
    event = order.events.filter(kind="monitor.replacement_of").first()
    return int(event.data.get("attempt", 0)) if event is not None else 0


def rejected_orders_replace(*, account: BrokerAccount, now: datetime, report: MonitoringReport) -> None:
    """Re-place the account's orders rejected for a transient reason, at most ``reject_retry_max`` times in a chain.

    The replacement copies the original, gets a client order id derived from it (so it is
    created once even if this runs twice) and is linked both ways by ``OrderEvent``s. A chain
    that has used its attempts gets a ``monitor.not_replaced`` event and is left to the desk.
    """
    from orders.services import order_submit

    if not account.trading_enabled:
        return
    rejected = (
        Order.objects.filter(
            account=account,
            status=OrderStatus.REJECTED,
            reject_code__in=TRANSIENT_REJECT_CODES,
            updated_at__gte=now - REJECT_RETRY_WINDOW,
        )
        .exclude(events__kind__in=["monitor.replaced", "monitor.not_replaced"])
        .select_related("instrument", "trading_session")
        .distinct()
    )
    for order in rejected:
        policy = policy_for(account=account, instrument=order.instrument)
        attempt = _attempt(order) + 1
        if attempt > policy.reject_retry_max:
            if policy.reject_retry_max:
                OrderEvent.objects.create(
                    order=order,
                    kind="monitor.not_replaced",
                    from_status=order.status,
                    to_status=order.status,
                    detail=f"rejected ({order.reject_code}) after {attempt - 1} re-placements; the policy allows "
                    f"{policy.reject_retry_max}",
                )
            continue
        with transaction.atomic():
            try:
                with transaction.atomic():
                    replacement = order_submit(
                        actor=None,
                        account=account,
                        instrument=order.instrument,
                        side=order.side,
                        quantity=order.remaining_quantity,
                        order_type=order.order_type,
                        limit_price=order.limit_price,
                        stop_price=order.stop_price,
                        tif=order.tif,
                        outside_rth=order.outside_rth,
                        oca_group=order.oca_group,
                        oca_type=order.oca_type,
                        source=order.source,
                        trading_session=order.trading_session
                        if order.trading_session and order.trading_session.status == "running"
                        else None,
                        client_order_id=replacement_client_order_id(order),
                        via="monitor",
                    )
            except ApplicationError as exc:
                OrderEvent.objects.create(
                    order=order,
                    kind="monitor.not_replaced",
                    from_status=order.status,
                    to_status=order.status,
                    detail=f"re-placement refused: {exc.code}: {exc.message}"[:500],
                )
                continue
            reason = (
                f"rejected for a transient reason ({order.reject_code}); "
                f"re-placement {attempt} of {policy.reject_retry_max}"
            )
            OrderEvent.objects.create(
                order=order,
                kind="monitor.replaced",
                from_status=order.status,
                to_status=order.status,
                detail=reason,
                data={"replacement": str(replacement.client_order_id), "attempt": attempt},
            )
            OrderEvent.objects.create(
                order=replacement,
                kind="monitor.replacement_of",
                to_status=replacement.status,
                detail=reason,
                data={"original": str(order.client_order_id), "attempt": attempt},
            )
        report.replaced.append(str(replacement.client_order_id))


# --- 7. daily loss and system alerts -----------------------------------------------------------------------


def _day_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def daily_pnl(*, account: BrokerAccount, now: datetime, total: monitoring_pnl.AccountPnL | None) -> Decimal:
    """Return the account's PnL since the start of the desk's local day (realized plus change in unrealized).

    The baseline is the last PnL point before the day began; without one, the realized PnL of
    fills executed before today and no unrealized PnL.
    """
    total = total or monitoring_pnl.AccountPnL(Decimal("0"), Decimal("0"))
    start = _day_start(now)
    baseline = PnLPoint.objects.filter(account=account, at__lt=start).order_by("-at").first()
    if baseline is not None:
        return total.total - baseline.total_pnl
    from django.db.models import Sum

    before = Fill.objects.filter(account=account, executed_at__lt=start).aggregate(s=Sum("realized_pnl"))["s"]
    return total.total - (before or Decimal("0"))


def daily_loss_check(
    *, account: BrokerAccount, now: datetime, report: MonitoringReport, totals: dict[int, monitoring_pnl.AccountPnL]
) -> None:
    """Halt the account and raise a critical alert when today's loss reaches its ``max_daily_loss``; once a day."""
    limits = risk_limit_for_account(account)
    if not limits.max_daily_loss:
        return
    today = daily_pnl(account=account, now=now, total=totals.get(account.pk))
    if today > -limits.max_daily_loss:
        return
    key = f"risk.daily_loss:{account.code}:{timezone.localdate(now)}"
    if _open_alert(key) is not None or Alert.objects.filter(key=key).exists():
        return
    with transaction.atomic():
        alert_raise(
            key=key,
            kind="risk.daily_loss",
            message=f"{account.code} lost {-today:.2f} today, reaching its daily limit of "
            f"{limits.max_daily_loss:.2f}; new orders are halted.",
            severity=Alert.Severity.CRITICAL,
            account=account,
            data={"pnl_today": today, "limit": limits.max_daily_loss},
        )
        account_halt(account=account, actor=None, reason="daily loss limit reached", via="monitor")
    report.alerts.append(key)
    report.halted.append(account.code)


def _condition(report: MonitoringReport, *, key: str, active: bool, kind: str, message: str, severity: str, data=None):
    if active:
        if _open_alert(key) is None:
            report.alerts.append(key)
        alert_raise(key=key, kind=kind, message=message, severity=severity, data=data)
    else:
        alert_resolve(key=key)


def system_alerts(*, now: datetime, report: MonitoringReport) -> None:
    """Raise or resolve the desk-wide alerts: gateway, heartbeats, stream lag, outbox backlog, dead letters."""
    beats = {beat.name: beat for beat in ProcessHeartbeat.objects.all()}
    max_age = timedelta(seconds=settings.MONITOR_HEARTBEAT_MAX_AGE_SECONDS)
    for name in settings.MONITOR_HEARTBEATS:
        beat = beats.get(name)
        missing = beat is None or now - beat.last_seen_at > max_age
        # The desk's clock, as the alert's own "Raised" time beside it on the page.
        seen = f"last seen {desk_time(beat.last_seen_at, '%H:%M:%S')}" if beat else "never seen"
        _condition(
            report,
            key=f"heartbeat.missing:{name}",
            active=missing,
            kind="heartbeat.missing",
            message=f"No heartbeat from {name} for over {max_age.seconds} s ({seen}).",
            severity=Alert.Severity.CRITICAL,
        )
    execution = beats.get("execution")
    if execution is not None:
        _condition(
            report,
            key="gateway.disconnected",
            active=execution.state in ("disconnected", "connecting"),
            kind="gateway.disconnected",
            message=f"The execution worker is not connected to TWS ({execution.state}: {execution.detail})"[:500],
            severity=Alert.Severity.CRITICAL,
        )
    oldest = OutboxMessage.objects.filter(published_at__isnull=True).order_by("id").values_list("created_at", flat=True)
    oldest = oldest.first()
    backlog = oldest is not None and now - oldest > timedelta(seconds=settings.MONITOR_OUTBOX_MAX_AGE_SECONDS)
    _condition(
        report,
        key="outbox.backlog",
        active=backlog,
        kind="stream.lag",
        message="Commands wait in the outbox: the relay is not publishing them.",
        severity=Alert.Severity.CRITICAL,
    )
    _stream_alerts(report)


def _stream_alerts(report: MonitoringReport) -> None:
    from execution_worker.messages import COMMANDS_GROUP, EVENTS_GROUP, StreamNames

    names = StreamNames(settings.STREAM_PREFIX)
    redis = _redis()
    for stream, group in ((names.commands, COMMANDS_GROUP), (names.events, EVENTS_GROUP)):
        lag = _group_lag(redis, stream, group)
        _condition(
            report,
            key=f"stream.lag:{stream}:{group}",
            active=lag is not None and lag > settings.MONITOR_STREAM_LAG_MAX,
            kind="stream.lag",
            message=f"{stream}: group {group} is {lag} entries behind.",
            severity=Alert.Severity.WARNING,
            data={"lag": lag},
        )
    _dead_letter_alert(report, length=int(redis.xlen(names.dlq)), dlq=names.dlq)


def _dead_letter_alert(report: MonitoringReport, *, length: int, dlq: str) -> None:
    """Raise the dead-letter alert when the stream grew, and keep its count current while it is open.

    New letters count from ``since``, the length at which the previous alert was resolved (the
    desk saw those); an open alert follows the stream as it grows, and comes back to the desk if
    it was only acknowledged.
    """
    current = _open_alert("stream.dead_letters")
    if current is not None:
        since = int(current.data.get("since", 0))
        if length <= int(current.data.get("length", 0)):
            return
    else:
        last = Alert.objects.filter(kind="stream.dead_letters").order_by("-raised_at", "-pk").first()
        since = int(last.data.get("length", 0)) if last is not None else 0
        # A stream shorter than at the last alert was trimmed or deleted: count all it holds.
        since = since if length >= since else 0
        if length <= since:
            return
    alert = alert_raise(
        key="stream.dead_letters",
        kind="stream.dead_letters",
        message=f"{length - since} new message(s) in the dead-letter stream {dlq} ({length} in all).",
        severity=Alert.Severity.WARNING,
        data={"length": length, "since": since},
        renew=True,
    )
    report.alerts.append(alert.key)


def _group_lag(redis, stream: str, group: str) -> int | None:
    """Return how many entries ``group`` has not yet read from ``stream`` (None: no such stream or group)."""
    try:
        groups = redis.xinfo_groups(stream)
    except Exception:
        return None
    for info in groups:
        name = info.get("name")
        name = name.decode() if isinstance(name, bytes) else name
        if name == group:
            lag = info.get("lag")
            return int(lag) if lag is not None else int(info.get("pending", 0))
    return None
