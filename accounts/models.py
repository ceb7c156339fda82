"""Users, broker accounts and who may use them, the audit log, the kill switch, the outbox, API idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models

from logclock import correlation
from tradeconsole.clock import desk_time


class User(AbstractUser):
    """A person (or a script's owner) using the console. Roles are Django groups."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class Role(models.TextChoices):
    """The desk's roles; each is a Django group created by a data migration."""

    VIEWER = "Viewer"
    TRADER = "Trader"
    RISK_MANAGER = "Risk manager"
    ADMIN = "Admin"


class BrokerAccount(models.Model):
    """An Interactive Brokers account the desk trades, such as ``DU0000001``."""

    class Kind(models.TextChoices):
        PAPER = "paper", "Paper"
        LIVE = "live", "Live"

    code = models.CharField(
        max_length=32,
        unique=True,
        validators=[RegexValidator(r"^[A-Z]{1,3}[0-9]{4,10}$", "An IB account code, such as DU0000001.")],
        help_text="IB account code, such as DU0000001.",
    )
    name = models.CharField(max_length=100)
    base_currency = models.CharField(max_length=3, default="USD")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PAPER)
    trading_enabled = models.BooleanField(default=True, help_text="Off means halted: no new orders for this account.")
    halted_reason = models.CharField(max_length=255, blank=True)
    halted_at = models.DateTimeField(null=True, blank=True)
    halted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="AccountMembership", related_name="broker_accounts", blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class AccountMembership(models.Model):
    """A user may see and act on an account only through a membership (superusers see all)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.account}"


class AccountValue(models.Model):
    """The latest value the broker reported for one account summary tag (``NetLiquidation``…)."""

    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="values")
    tag = models.CharField(max_length=64)
    value = models.CharField(max_length=64)
    currency = models.CharField(max_length=8, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "tag"], name="uniq_account_value_tag")]

    def __str__(self) -> str:
        return f"{self.account} {self.tag}={self.value}"


class KillSwitch(models.Model):
    """The desk-wide kill switch: a single row (pk 1). Engaged means no new order anywhere."""

    engaged = models.BooleanField(default=False)
    reason = models.CharField(max_length=255, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "kill switch"

    def __str__(self) -> str:
        return "engaged" if self.engaged else "released"


class AuditLog(models.Model):
    """Append-only record of every change: who, when, what, before and after.

    Written by services in the same transaction as the change it records; never updated.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    account = models.ForeignKey(BrokerAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    via = models.CharField(
        max_length=16,
        blank=True,
        help_text="Where the change came from: admin, api, task (Celery), bridge (the broker's events), "
        "monitor (the monitoring run), runner (a strategy session), market (the market page), "
        "seed_demo (demo data); blank: the system itself.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        # The admin's title of an entry: in the desk's time zone, as every table of the admin.
        return f"{desk_time(self.created_at)} {self.action} {self.object_type}#{self.object_id}"


class OutboxMessage(models.Model):
    """A message for the command stream, written in the transaction of the change that needs it.

    The relay (``streams``) publishes rows whose ``published_at`` is null, in ``id`` order,
    claiming them with ``FOR UPDATE SKIP LOCKED``; the worker deduplicates by ``message_id``.
    It lives here, at the root of the dependency graph, so every domain app can write it.
    """

    message_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    stream = models.CharField(max_length=32, default="commands")
    type = models.CharField(max_length=32)
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    publish_count = models.PositiveIntegerField(default=0)
    acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the worker's events showed it received the command."
    )
    # The request's, task's or schedule firing's id, bound when the row is written: the relay puts it
    # in the stream entry's cid field, so the worker's and the bridge's lines about it carry it too.
    correlation_id = models.CharField(
        max_length=64,
        blank=True,
        default=correlation.current,
        # A row written by SQL (not the ORM) has none.
        db_default="",
        help_text="The correlation id of the log lines about this message (grep the logs for it).",
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["id"], name="outbox_unpublished", condition=models.Q(published_at__isnull=True)),
            # The bridge marks an order's commands received on every event about the order, and the
            # relay's sweep looks for commands left unanswered (at most 5 publications): without
            # these two, both read the whole table, which only grows (halts and refreshes are never
            # acknowledged, and neither is a command the worker never answered).
            models.Index(
                models.F("data__client_order_id"),
                name="outbox_unacknowledged_order",
                condition=models.Q(acknowledged_at__isnull=True),
            ),
            models.Index(
                fields=["id"],
                name="outbox_unacknowledged",
                condition=models.Q(
                    acknowledged_at__isnull=True,
                    stream="commands",
                    type__in=["order.place", "order.cancel", "order.modify"],
                    publish_count__lt=5,
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id}"


class Alert(models.Model):
    """Something the desk must look at: raised once, shown until acknowledged and resolved.

    ``key`` names the condition (``gateway.disconnected``, ``position.mismatch:DU0000001:AAPL``);
    at most one alert per key is open at a time.
    """

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    key = models.CharField(max_length=200)
    kind = models.CharField(max_length=64, db_index=True)
    severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN, db_index=True)
    account = models.ForeignKey(BrokerAccount, null=True, blank=True, on_delete=models.CASCADE, related_name="alerts")
    message = models.CharField(max_length=500)
    data = models.JSONField(default=dict, blank=True)
    raised_at = models.DateTimeField(auto_now_add=True, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=~models.Q(status="resolved"), name="uniq_unresolved_alert_key"
            )
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.message}"


class ProcessHeartbeat(models.Model):
    """The last sign of life of one process of the desk (execution worker, bridge, beat…).

    Also carries the gateway state the worker last reported, so the desk and the monitor read
    one row instead of a transport.
    """

    name = models.CharField(max_length=64, unique=True, help_text="execution, bridge, relay, beat, celery")
    last_seen_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=32, blank=True, help_text="For the worker: the gateway state")
    detail = models.CharField(max_length=255, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} {self.state} @ {desk_time(self.last_seen_at, '%H:%M:%S')}"


class IdempotencyKey(models.Model):
    """One idempotency key of one user, with the fingerprint of its request and, once done, its
    response (the rules are ``accounts.idempotency``'s)."""

    RETENTION = timedelta(hours=24)
    MAX_KEY_LENGTH = 255

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETE = "complete", "Complete"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=MAX_KEY_LENGTH)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="uniq_idempotency_key_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key} ({self.status})"

    @property
    def expires_at(self) -> datetime:
        return self.created_at + self.RETENTION
