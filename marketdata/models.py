"""Closed bars per instrument and resolution, and each user's watchlist.

The forming bar and the recent windows live in Redis (``marketdata.keys``); PostgreSQL keeps every
closed bar, built live or backfilled from the broker's history.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from marketdata import resolutions

PRICE = {"max_digits": 18, "decimal_places": 6}
VOLUME = {"max_digits": 20, "decimal_places": 4}


class Bar(models.Model):
    """One closed OHLCV bar: unique per instrument, resolution and start (UTC)."""

    class Source(models.TextChoices):
        LIVE = "live", "Built from ticks"
        HISTORY = "history", "Broker history"

    instrument = models.ForeignKey("orders.Instrument", on_delete=models.PROTECT, related_name="bars")
    resolution = models.CharField(max_length=4, choices=resolutions.CHOICES)
    start = models.DateTimeField(help_text="When the bar opened (UTC)")
    open = models.DecimalField(**PRICE)
    high = models.DecimalField(**PRICE)
    low = models.DecimalField(**PRICE)
    close = models.DecimalField(**PRICE)
    volume = models.DecimalField(default=0, **VOLUME)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.LIVE)

    class Meta:
        ordering = ["instrument", "resolution", "start"]
        constraints = [
            # Also the index of every time-range read (instrument, resolution, start between …).
            models.UniqueConstraint(fields=["instrument", "resolution", "start"], name="uniq_bar_per_start"),
            models.CheckConstraint(condition=models.Q(low__lte=models.F("high")), name="bar_low_not_above_high"),
        ]

    def __str__(self) -> str:
        return f"{self.instrument_id} {self.resolution} {self.start:%Y-%m-%d %H:%M}"


class WatchlistEntry(models.Model):
    """One symbol on one user's Market watch, in the user's order."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlist")
    instrument = models.ForeignKey("orders.Instrument", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["user", "instrument"], name="uniq_watchlist_symbol")]
        verbose_name_plural = "watchlist entries"

    def __str__(self) -> str:
        return f"{self.user_id}: {self.instrument_id}"
