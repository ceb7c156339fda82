"""Turning alert changes into deliveries: raised, worsened, recovered, escalated, each once per alert.

The ``AlertNotice`` row of an alert, locked, is the deduplication record: announcements may
repeat (an alert renewed at the same severity, a task redelivered), messages do not.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Alert
from notifications.models import SEVERITY_RANK, AlertNotice, Delivery, Rule
from notifications.selectors import Recipients, recipients, rules_matching


def deliveries_create(*, alert: Alert | None, event: str, found: Recipients) -> list[Delivery]:
    """Record one queued delivery per channel and person of ``found``; return them (the caller sends them)."""
    rows = [
        Delivery(alert=alert, event=event, rule=rule, channel=channel, recipient=channel.target)
        for channel, rule in found.channels.values()
    ] + [
        Delivery(alert=alert, event=event, rule=rule, user=person, recipient=address)
        for person, address, rule in found.people.values()
    ]
    return Delivery.objects.bulk_create(rows)


@transaction.atomic
def alert_notify(*, alert_id: int) -> list[Delivery]:
    """Record what the routed channels and people must be told of alert ``alert_id``; return those deliveries.

    A new open alert is "raised", one renewed at a higher severity "worsened", a resolved one
    that was announced "recovered" (to the rules of the highest severity announced). An alert
    resolved before it was ever announced, and a change already told, send nothing.
    """
    # The alert's lock serializes two tasks of one alert (raised, then renewed at once): the
    # second sees the notice the first wrote.
    alert = Alert.objects.select_for_update(of=("self",)).select_related("account").filter(pk=alert_id).first()
    if alert is None:
        return []
    notice = AlertNotice.objects.select_for_update().filter(alert=alert).first()
    now = timezone.now()
    if notice is None:
        if alert.status == Alert.Status.RESOLVED:
            return []
        notice = AlertNotice.objects.create(
            alert=alert,
            severity=alert.severity,
            raised_at=now,
            critical_at=now if alert.severity == Alert.Severity.CRITICAL else None,
        )
        return deliveries_create(
            alert=alert, event=Delivery.Event.RAISED, found=recipients(alert, rules_matching(alert))
        )
    if alert.status == Alert.Status.RESOLVED:
        if notice.recovered_at is not None:
            return []
        notice.recovered_at = now
        notice.save(update_fields=["recovered_at"])
        rules = rules_matching(alert, severity=notice.severity)
        return deliveries_create(
            alert=alert, event=Delivery.Event.RECOVERED, found=recipients(alert, rules, severity=notice.severity)
        )
    if SEVERITY_RANK[alert.severity] <= SEVERITY_RANK[notice.severity]:
        return []
    notice.severity = alert.severity
    fields = ["severity"]
    if alert.severity == Alert.Severity.CRITICAL:
        notice.critical_at = now
        fields.append("critical_at")
    notice.save(update_fields=fields)
    return deliveries_create(alert=alert, event=Delivery.Event.WORSENED, found=recipients(alert, rules_matching(alert)))


def alerts_untold(*, now: datetime | None = None) -> list[Delivery]:
    """Tell what an announcement missed: alerts raised in the last hour (a minute ago or more) never
    told, and told alerts resolved (a minute ago or more) without their "recovered" message;
    return the deliveries.

    An announcement is heard after its commit, in the process that committed: one that died
    then, or could not reach the broker, leaves its alert untold until this runs. Alerts older
    than an hour (e.g. raised before notifications were set up) are left alone.
    """
    now = now or timezone.now()
    unannounced = Alert.objects.filter(
        notice__isnull=True, raised_at__gte=now - timedelta(hours=1), raised_at__lte=now - timedelta(minutes=1)
    ).exclude(status=Alert.Status.RESOLVED)
    unrecovered = Alert.objects.filter(
        status=Alert.Status.RESOLVED,
        resolved_at__lte=now - timedelta(minutes=1),
        notice__isnull=False,
        notice__recovered_at__isnull=True,
    )
    queued: list[Delivery] = []
    for alert_id in [*unannounced.values_list("pk", flat=True), *unrecovered.values_list("pk", flat=True)]:
        queued += alert_notify(alert_id=alert_id)
    return queued


def alert_escalations_due(*, now: datetime | None = None) -> list[Delivery]:
    """Escalate each critical alert still open (not acknowledged) past a rule's ``escalate_after_minutes``.

    The clock starts when the alert was announced as critical; each rule escalates an alert
    once (its "escalated" deliveries are the record). Returns the deliveries queued.
    """
    now = now or timezone.now()
    rules = list(Rule.objects.filter(enabled=True, escalate_after_minutes__isnull=False))
    if not rules:
        return []
    earliest = now - timedelta(minutes=min(rule.escalate_after_minutes for rule in rules))
    due = AlertNotice.objects.filter(
        alert__status=Alert.Status.OPEN, alert__severity=Alert.Severity.CRITICAL, critical_at__lte=earliest
    ).values_list("alert_id", flat=True)
    queued: list[Delivery] = []
    for alert_id in due:
        queued += _alert_escalate(alert_id=alert_id, now=now)
    return queued


@transaction.atomic
def _alert_escalate(*, alert_id: int, now: datetime) -> list[Delivery]:
    notice = AlertNotice.objects.select_for_update(of=("self",)).select_related("alert__account").get(alert_id=alert_id)
    alert = notice.alert
    if alert.status != Alert.Status.OPEN or notice.critical_at is None:
        return []
    done = set(Delivery.objects.filter(alert=alert, event=Delivery.Event.ESCALATED).values_list("rule_id", flat=True))
    queued: list[Delivery] = []
    for rule in rules_matching(alert):
        if rule.escalate_after_minutes is None or rule.pk in done:
            continue
        if notice.critical_at + timedelta(minutes=rule.escalate_after_minutes) > now:
            continue
        found = recipients(alert, [rule], escalation=True)
        if not found:
            continue
        queued += deliveries_create(alert=alert, event=Delivery.Event.ESCALATED, found=found)
    return queued
