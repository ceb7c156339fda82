"""The book against the broker: refreshes within a message budget, lost risk limits, position mismatches."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from accounts.models import Alert, BrokerAccount, OutboxMessage
from accounts.services import account_halt, alert_raise, alert_resolve, outbox_enqueue
from execution_worker.messages import StreamNames
from orders.models import Fill, Instrument, Position, RiskLimit
from orders.monitoring.common import MonitoringReport, open_alert, redis_client
from orders.services import risk_limits_publish

logger = logging.getLogger(__name__)


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
    if not accounts:
        return []
    names = StreamNames(settings.STREAM_PREFIX)
    pipe = redis_client().pipeline(transaction=False)
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


def _mismatch_key(account: BrokerAccount, instrument: Instrument) -> str:
    return f"position.mismatch:{account.code}:{instrument.symbol}"


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
            if open_alert(key) is None:
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
            alert = open_alert(key)
            if alert is not None and alert.status == Alert.Status.ACKNOWLEDGED:
                alert_resolve(key=key)
