"""The monitor's alerts: the daily loss limit (which halts), heartbeats, gateway, stream lag, outbox, dead letters."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Alert, BrokerAccount, OutboxMessage, ProcessHeartbeat
from accounts.services import account_halt, alert_raise, alert_resolve
from execution_worker.messages import COMMANDS_GROUP, EVENTS_GROUP, StreamNames
from orders.monitoring.books import AccountPnL
from orders.monitoring.common import MonitoringReport, open_alert, redis_client
from orders.monitoring.pnl import daily_pnl
from orders.selectors import risk_limit_for_account
from tradeconsole.clock import desk_time


def daily_loss_check(
    *, account: BrokerAccount, now: datetime, report: MonitoringReport, totals: dict[int, AccountPnL]
) -> None:
    """Halt the account and raise a critical alert when today's loss reaches its ``max_daily_loss``; once a day."""
    limits = risk_limit_for_account(account)
    if not limits.max_daily_loss:
        return
    today = daily_pnl(account=account, now=now, total=totals.get(account.pk))
    if today > -limits.max_daily_loss:
        return
    key = f"risk.daily_loss:{account.code}:{timezone.localdate(now)}"
    if open_alert(key) is not None or Alert.objects.filter(key=key).exists():
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
        if open_alert(key) is None:
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
    names = StreamNames(settings.STREAM_PREFIX)
    redis = redis_client()
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
    current = open_alert("stream.dead_letters")
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
