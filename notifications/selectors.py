"""Routing: which rules an alert matches and who hears of it, people's preferences applied."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from fnmatch import fnmatchcase

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from accounts.models import Alert
from notifications.models import SEVERITY_RANK, Channel, Rule, UserPreference

User = get_user_model()


@dataclass
class Recipients:
    """The channels and people (with the address each is emailed at) one message goes to, each once."""

    channels: dict[int, tuple[Channel, Rule]] = field(default_factory=dict)
    people: dict[int, tuple[User, str, Rule]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.channels or self.people)


def kind_matches(kind: str, patterns: list[str]) -> bool:
    """Whether ``kind`` is one of ``patterns`` (shell patterns such as ``gateway.*``); none means every kind."""
    return not patterns or any(fnmatchcase(kind, pattern) for pattern in patterns)


def rules_matching(alert: Alert, *, severity: str | None = None) -> list[Rule]:
    """The enabled rules that take ``alert``: severity (or ``severity``) at or above theirs, its kind, its account."""
    rank = SEVERITY_RANK[severity or alert.severity]
    rules = Rule.objects.filter(enabled=True).filter(Q(account__isnull=True) | Q(account_id=alert.account_id))
    return [
        rule
        for rule in rules.order_by("pk")
        if SEVERITY_RANK[rule.min_severity] <= rank and kind_matches(alert.kind, rule.kind_patterns)
    ]


def recipients(alert: Alert, rules: list[Rule], *, escalation: bool = False, severity: str | None = None) -> Recipients:
    """Who hears of ``alert`` through ``rules``: their channels and people (or escalation targets).

    A person is emailed once however many rules name them, at their preferred address, unless
    their preferences mute this alert (see ``person_wants``). Disabled channels and inactive
    people, or people without an address, hear nothing.
    """
    found = Recipients()
    for rule in rules:
        channels = rule.escalation_channels.all() if escalation else rule.channels.all()
        for channel in channels:
            if channel.enabled:
                found.channels.setdefault(channel.pk, (channel, rule))
        people = (
            rule.escalation_users.all()
            if escalation
            else User.objects.filter(Q(pk__in=rule.users.values("pk")) | Q(groups__in=rule.groups.all())).distinct()
        )
        for person in people.filter(is_active=True).select_related("notification_preference"):
            if person.pk in found.people:
                continue
            address = person_address(person, alert, severity=severity or alert.severity)
            if address:
                found.people[person.pk] = (person, address, rule)
    return found


def person_address(person: User, alert: Alert, *, severity: str, now: datetime | None = None) -> str:
    """The address ``person`` wants ``alert`` at, or "" when their preferences mute it.

    Muted: preferences disabled, a severity below theirs, a muted kind, or quiet hours (desk
    time) for anything but a critical alert.
    """
    preference = getattr(person, "notification_preference", None)
    if preference is None:
        return person.email
    if not preference.enabled or SEVERITY_RANK[severity] < SEVERITY_RANK[preference.min_severity]:
        return ""
    if preference.muted_patterns and kind_matches(alert.kind, preference.muted_patterns):
        return ""
    if severity != Alert.Severity.CRITICAL and in_quiet_hours(preference, now or timezone.now()):
        return ""
    return preference.email or person.email


def in_quiet_hours(preference: UserPreference, now: datetime) -> bool:
    """Whether ``now`` (desk time) falls in the preference's quiet hours; they may span midnight."""
    start, end = preference.quiet_start, preference.quiet_end
    if start is None or end is None or start == end:
        return False
    clock: time = timezone.localtime(now).time()
    return start <= clock < end if start < end else clock >= start or clock < end
