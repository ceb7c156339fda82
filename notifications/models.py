"""Where the desk's alerts are sent: channels, routing rules, people's preferences, and every delivery."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models

from accounts.models import Alert, BrokerAccount

SEVERITY_RANK = {Alert.Severity.INFO: 0, Alert.Severity.WARNING: 1, Alert.Severity.CRITICAL: 2}


class Channel(models.Model):
    """A place alerts are sent: a list of email addresses, a signed JSON webhook, a Slack or Teams webhook."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email (SMTP)"
        WEBHOOK = "webhook", "Webhook (JSON, HMAC-signed)"
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams incoming webhook"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    target = models.TextField(help_text="Email: addresses separated by commas. Otherwise: the webhook URL.")
    secret = models.CharField(
        max_length=200, blank=True, help_text="Webhook only: the key of the X-Tradeconsole-Signature HMAC."
    )
    enabled = models.BooleanField(default=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=30, help_text="At most this many messages a minute; more are recorded as rate limited."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def addresses(self) -> list[str]:
        return [part.strip() for part in self.target.replace(";", ",").split(",") if part.strip()]

    def clean(self) -> None:
        """An email channel names valid addresses; any other, one http(s) URL."""
        if self.kind == self.Kind.EMAIL:
            if not self.addresses:
                raise ValidationError({"target": "Give at least one email address."})
            for address in self.addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError({"target": f"{address} is not an email address."}) from None
            return
        self.target = self.target.strip()
        try:
            URLValidator(schemes=["http", "https"])(self.target)
        except ValidationError:
            raise ValidationError({"target": "Give the webhook's http(s) URL."}) from None


class Rule(models.Model):
    """Which alerts go where: alerts at or above a severity, of some kinds, of an account (or any)."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    min_severity = models.CharField(max_length=8, choices=Alert.Severity.choices, default=Alert.Severity.WARNING)
    kinds = models.CharField(
        max_length=500,
        blank=True,
        help_text="Alert kinds separated by commas, shell patterns allowed (gateway.*); blank: every kind.",
    )
    account = models.ForeignKey(
        BrokerAccount, null=True, blank=True, on_delete=models.CASCADE, help_text="Blank: every account and desk-wide."
    )
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+", help_text="Emailed.")
    groups = models.ManyToManyField(Group, blank=True, related_name="+", help_text="Each member is emailed.")
    escalate_after_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="A critical alert nobody acknowledged this long goes to the escalation targets.",
    )
    escalation_channels = models.ManyToManyField(Channel, blank=True, related_name="escalation_rules")
    escalation_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def kind_patterns(self) -> list[str]:
        return [part.strip() for part in self.kinds.split(",") if part.strip()]


class UserPreference(models.Model):
    """How one person wants to be told: an address, kinds and severities muted, quiet hours."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.EmailField(blank=True, help_text="Blank: the user's own address.")
    enabled = models.BooleanField(default=True, help_text="Untick to receive nothing.")
    min_severity = models.CharField(max_length=8, choices=Alert.Severity.choices, default=Alert.Severity.INFO)
    muted_kinds = models.CharField(max_length=500, blank=True, help_text="Kinds separated by commas, patterns allowed.")
    quiet_start = models.TimeField(null=True, blank=True, help_text="Desk time; only critical alerts from here…")
    quiet_end = models.TimeField(null=True, blank=True, help_text="…until here.")

    def __str__(self) -> str:
        return f"Preferences of {self.user}"

    @property
    def muted_patterns(self) -> list[str]:
        return [part.strip() for part in self.muted_kinds.split(",") if part.strip()]


class AlertNotice(models.Model):
    """What people have been told about one alert: the severity announced, whether it recovered.

    The deduplication record: one "raised" message per alert, one "worsened" per higher
    severity, one "recovered" when it resolves, escalations once per rule.
    """

    alert = models.OneToOneField(Alert, on_delete=models.CASCADE, related_name="notice")
    severity = models.CharField(max_length=8, choices=Alert.Severity.choices)
    raised_at = models.DateTimeField()
    critical_at = models.DateTimeField(null=True, blank=True, help_text="When it was announced as critical.")
    recovered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Notice of alert {self.alert_id}"


class Delivery(models.Model):
    """One message to one channel or person: queued, then sent, failed or rate limited, with its attempts."""

    class Event(models.TextChoices):
        RAISED = "raised", "Raised"
        WORSENED = "worsened", "Worsened"
        RECOVERED = "recovered", "Recovered"
        ESCALATED = "escalated", "Escalated"
        TEST = "test", "Test"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RETRYING = "retrying", "Retrying"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        RATE_LIMITED = "rate_limited", "Rate limited"

    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=10, choices=Event.choices)
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    recipient = models.TextField(help_text="The addresses or URL the message went to.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="Each failed attempt: when and why.")
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    admitted_at = models.DateTimeField(null=True, blank=True, help_text="When the channel's rate limit let it through.")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["channel", "admitted_at"], name="delivery_channel_admitted")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(channel__isnull=False) | models.Q(user__isnull=False), name="delivery_has_target"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_event_display()} to {self.channel or self.user}: {self.get_status_display()}"
