"""Backtests: a pinned strategy version run over stored bars, its progress and its results (imported by models.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from marketdata import resolutions

MONEY = {"max_digits": 20, "decimal_places": 4}


class Backtest(models.Model):
    """One backtest request: what to run (version, symbols, resolution, range, cash, fees, slippage) and its outcome.

    Written only by ``strategies.services.backtests``: requested ``queued``, taken ``running`` by
    the Celery task, ending ``done`` (``results`` holds trades, equity curve and metrics),
    ``failed`` (``error_code`` / ``error``) or ``cancelled``.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class FeeModel(models.TextChoices):
        FIXED = "fixed", "IB fixed"
        TIERED = "tiered", "IB tiered"
        NONE = "none", "No fees"

    class Slippage(models.TextChoices):
        NONE = "none", "None"
        TICKS = "ticks", "Ticks"
        BPS = "bps", "Basis points"

    version = models.ForeignKey("strategies.StrategyVersion", on_delete=models.PROTECT, related_name="backtests")
    symbols = models.JSONField(help_text='The symbols backtested, e.g. ["AAPL", "MSFT"]')
    resolution = models.CharField(max_length=4, choices=resolutions.CHOICES)
    start = models.DateTimeField(help_text="First bar's start (UTC, inclusive)")
    end = models.DateTimeField(help_text="Bars starting before this instant (UTC, exclusive)")
    starting_cash = models.DecimalField(**MONEY)
    fee_model = models.CharField(max_length=8, choices=FeeModel.choices, default=FeeModel.FIXED)
    slippage_model = models.CharField(max_length=8, choices=Slippage.choices, default=Slippage.NONE)
    slippage_amount = models.DecimalField(max_digits=10, decimal_places=4, default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0)
    results = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="backtests"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="backtest_progress_at_most_100"),
            models.CheckConstraint(condition=models.Q(start__lt=models.F("end")), name="backtest_start_before_end"),
            models.CheckConstraint(condition=models.Q(starting_cash__gt=0), name="backtest_cash_positive"),
        ]

    def __str__(self) -> str:
        return f"Backtest {self.pk} of {self.version_id} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED)

    @property
    def metrics(self) -> dict:
        return (self.results or {}).get("metrics", {})
