"""Strategies, their immutable versions (node graphs) and the trading sessions in which they run on an account."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from accounts.models import BrokerAccount
from marketdata import resolutions

MONEY = {"max_digits": 20, "decimal_places": 4}
FEE_MODELS = [("fixed", "IB fixed"), ("tiered", "IB tiered"), ("none", "No fees")]
SLIPPAGE_MODELS = [("none", "None"), ("ticks", "Ticks"), ("bps", "Basis points")]


class Strategy(models.Model):
    """A named trading strategy with validated parameters and the accounts it may trade."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    accounts = models.ManyToManyField(BrokerAccount, blank=True, related_name="strategies")
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "strategies"

    def __str__(self) -> str:
        return self.name


class StrategyVersion(models.Model):
    """One saved graph of a strategy, numbered 1, 2, … per strategy; never changed once saved.

    ``graph_hash`` is the sha256 of the graph's canonical JSON (the compiler's plan hash, also
    the key of its plan cache); ``warmup`` the bars the compiled plan needs before its first
    decision. Only ``approved_by`` / ``approved_at`` are ever written after the insert.
    """

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    graph_hash = models.CharField(max_length=64, db_index=True)
    warmup = models.PositiveIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="strategy_versions"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="strategy_versions_approved",
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["strategy", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "number"], name="strategy_version_number_unique"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="strategy_version_number_positive"),
            # Approved means both who and when; neither alone.
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True, approved_at__isnull=True)
                | models.Q(approved_by__isnull=False, approved_at__isnull=False),
                name="strategy_version_approval_complete",
            ),
        ]
        permissions = [("approve_strategyversion", "Can approve strategy versions for broker sessions")]

    def __str__(self) -> str:
        return f"{self.strategy} v{self.number}"

    @property
    def is_approved(self) -> bool:
        return self.approved_at is not None


class TradingSession(models.Model):
    """A strategy running on one account, with its controls and metrics."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="sessions")
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="trading_sessions")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    starting_equity = models.DecimalField(null=True, blank=True, **MONEY)
    realized_pnl = models.DecimalField("realized PnL", default=Decimal("0"), **MONEY)
    unrealized_pnl = models.DecimalField("unrealized PnL", default=Decimal("0"), **MONEY)
    max_drawdown = models.DecimalField(default=Decimal("0"), **MONEY)
    peak_pnl = models.DecimalField("peak PnL", default=Decimal("0"), **MONEY)
    trade_count = models.PositiveIntegerField(default=0)
    win_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    # What the runner runs: a pinned version on one symbol's bars, in one of two modes.
    class Mode(models.TextChoices):
        FORWARD = "forward", "Forward test (paper, simulated fills)"
        BROKER = "broker", "Broker (orders through the desk)"

    mode = models.CharField(max_length=8, choices=Mode.choices, default=Mode.FORWARD)
    version = models.ForeignKey(
        "strategies.StrategyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="sessions"
    )
    instrument = models.ForeignKey(
        "orders.Instrument", null=True, blank=True, on_delete=models.PROTECT, related_name="trading_sessions"
    )
    resolution = models.CharField(max_length=4, choices=resolutions.CHOICES, default=resolutions.ONE_MINUTE.code)
    fee_model = models.CharField(max_length=8, choices=FEE_MODELS, default="fixed")
    slippage_model = models.CharField(max_length=8, choices=SLIPPAGE_MODELS, default="none")
    slippage_amount = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    # The session's own limits: None means no limit of its own (the account's risk limits still apply).
    max_position = models.PositiveIntegerField(null=True, blank=True, help_text="Most shares held, long or short")
    max_daily_loss = models.DecimalField(
        null=True, blank=True, help_text="Pause the session when today's PnL falls this far below zero", **MONEY
    )
    # Why the session last paused or stopped (a person's reason, or the runner's code).
    status_reason = models.CharField(max_length=200, blank=True)
    flatten_on_stop = models.BooleanField(default=False)
    # The runner's own record: the last bar decided (epoch seconds, the bar's start), its state and its lease.
    last_bar_time = models.BigIntegerField(null=True, blank=True)
    state = models.JSONField(default=dict, blank=True)
    equity = models.DecimalField(null=True, blank=True, **MONEY)
    sharpe = models.FloatField("Sharpe ratio", null=True, blank=True)
    # When it last became running (start or resume): bars closed before it are history, not decisions.
    running_since = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.strategy} on {self.account} ({self.status})"


# Backtests live in their own module; imported here so Django registers the model with the app.
from strategies.models_backtests import Backtest  # noqa: E402
from strategies.models_runtime import SessionDecision, SessionEquityPoint, SessionFill  # noqa: E402

__all__ = [
    "Backtest",
    "SessionDecision",
    "SessionEquityPoint",
    "SessionFill",
    "Strategy",
    "StrategyVersion",
    "TradingSession",
]
