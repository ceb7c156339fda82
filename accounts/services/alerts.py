"""Alerts: raised (once per key) and renewed by the desk, acknowledged and resolved by people or the monitor."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.announce import announce_object
from accounts.exceptions import AlertAlreadyResolved, AlertNotFound, PermissionRequired
from accounts.models import Alert, BrokerAccount, Role, User
from accounts.selectors import user_has_role
from accounts.services.audit import audit_record
from accounts.services.common import actor_or_none, jsonable, require_actor


def alert_raise(
    *,
    key: str,
    kind: str,
    message: str,
    severity: str = Alert.Severity.WARNING,
    account: BrokerAccount | None = None,
    data: dict | None = None,
    renew: bool = False,
) -> Alert:
    """Open an alert named ``key``, or return the one already open under that key.

    With ``renew`` (the condition got worse, e.g. more dead letters) an alert already open takes
    the new message, severity and data, and one the desk acknowledged is open again, so what it
    shows is never the first occurrence's stale count.

    Safe under concurrency: the partial unique constraint on open keys decides the race.
    """
    existing = Alert.objects.exclude(status=Alert.Status.RESOLVED).filter(key=key).first()
    if existing is not None:
        return _alert_renew(existing, message=message, severity=severity, data=data) if renew else existing
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                key=key[:200],
                kind=kind[:64],
                message=message[:500],
                severity=severity,
                account=account,
                data=jsonable(data or {}),
            )
            announce_object(alert)
            return alert
    except IntegrityError:
        return Alert.objects.exclude(status=Alert.Status.RESOLVED).get(key=key)


@transaction.atomic
def _alert_renew(alert: Alert, *, message: str, severity: str, data: dict | None) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    alert.message, alert.severity, alert.data = message[:500], severity, jsonable(data or {})
    fields = ["message", "severity", "data"]
    if alert.status == Alert.Status.ACKNOWLEDGED:
        alert.status, alert.acknowledged_at, alert.acknowledged_by = Alert.Status.OPEN, None, None
        fields += ["status", "acknowledged_at", "acknowledged_by"]
    alert.save(update_fields=fields)
    announce_object(alert)
    return alert


@transaction.atomic
def alert_acknowledge(*, alert: Alert, actor: User | None, via: str) -> Alert:
    """Mark an open alert as seen by ``actor``; acknowledging twice changes nothing.

    :raises AlertAlreadyResolved: the alert is resolved.
    :raises AccountNotMember, PermissionRequired: ``actor`` may not handle this alert.
    """
    require_actor(actor, account=alert.account, perm="accounts.change_alert")
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.status == Alert.Status.RESOLVED:
        raise AlertAlreadyResolved()
    if alert.status == Alert.Status.ACKNOWLEDGED:
        return alert
    alert.status = Alert.Status.ACKNOWLEDGED
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = actor_or_none(actor)
    alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
    audit_record(
        actor=actor,
        action="alert.acknowledge",
        obj=alert,
        account=alert.account,
        before={"status": Alert.Status.OPEN},
        after={"status": alert.status},
        via=via,
    )
    return alert


@transaction.atomic
def alert_resolve(
    *, alert: Alert | None = None, key: str | None = None, actor: User | None = None, via: str = ""
) -> Alert | None:
    """Resolve an alert given as ``alert`` or by its ``key``; return it, or None when none is open.

    The monitor calls it with ``key`` whenever a condition clears, so an absent key is a no-op.

    :raises AlertNotFound: neither ``alert`` nor ``key`` given.
    :raises AccountNotMember, PermissionRequired: a person who may not handle this alert.
    """
    if alert is None and not key:
        raise AlertNotFound("Give an alert or its key.")
    queryset = Alert.objects.select_for_update().exclude(status=Alert.Status.RESOLVED)
    alert = queryset.filter(pk=alert.pk).first() if alert is not None else queryset.filter(key=key).first()
    if alert is None:
        return None
    require_actor(actor, account=alert.account, perm="accounts.change_alert")
    before = {"status": alert.status}
    alert.status = Alert.Status.RESOLVED
    alert.resolved_at = timezone.now()
    alert.save(update_fields=["status", "resolved_at"])
    announce_object(alert)
    if actor is not None:
        audit_record(
            actor=actor,
            action="alert.resolve",
            obj=alert,
            account=alert.account,
            before=before,
            after={"status": alert.status},
            via=via,
        )
    return alert


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
