"""What a running session leaves behind: its decisions (and why), its simulated fills and its equity curve.

Imported by models.py so Django registers the models with the app; written only by
``strategies.services`` (the runner calls them).
"""

from __future__ import annotations

from django.db import models

MONEY = {"max_digits": 20, "decimal_places": 4}


class SessionDecision(models.Model):
    """One closed bar on which the session's strategy decided to act, and what came of it.

    At most one a session and bar: the row and the order it places are written in one
    transaction, and the order's ``client_order_id`` is derived from (session, bar, action), so a
    runner restarted at any point neither acts twice on a bar nor loses a decision.
    ``values`` keeps the node values that decided it: the action node's inputs and every signal
    above its trigger, by node id and port.
    """

    class Outcome(models.TextChoices):
        PLACED = "placed", "Order placed at the broker"
        FILLED = "filled", "Filled (forward test)"
        PENDING = "pending", "Waiting for the next bar's open (forward test)"
        REFUSED = "refused", "Refused by the desk's checks"
        LIMIT = "limit", "Refused by the session's limits"
        STALE = "stale", "Not acted on: the bar was too old"

    session = models.ForeignKey("strategies.TradingSession", on_delete=models.CASCADE, related_name="decisions")
    bar_time = models.BigIntegerField(help_text="The deciding bar's start, epoch seconds UTC")
    action = models.CharField(max_length=8)
    node = models.CharField(max_length=100)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    quantity = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    price = models.DecimalField(null=True, blank=True, **MONEY)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="session_decisions"
    )
    values = models.JSONField(default=dict, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    message = models.CharField(max_length=500, blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-bar_time"]
        constraints = [
            models.UniqueConstraint(fields=["session", "bar_time"], name="session_decision_once_a_bar"),
        ]

    def __str__(self) -> str:
        return f"{self.action} at {self.bar_time} ({self.outcome})"


class SessionFill(models.Model):
    """A forward test's simulated fill: price slipped against the session, fee by its fee model."""

    session = models.ForeignKey("strategies.TradingSession", on_delete=models.CASCADE, related_name="fills")
    decision = models.ForeignKey(
        SessionDecision, null=True, blank=True, on_delete=models.SET_NULL, related_name="fills"
    )
    time = models.DateTimeField()
    side = models.CharField(max_length=4, choices=[("BUY", "Buy"), ("SELL", "Sell")])
    quantity = models.PositiveIntegerField()
    price = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=16, help_text="entry, signal, reverse, stop_loss, take_profit, flatten …")

    class Meta:
        ordering = ["time", "id"]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity} @ {self.price}"


class SessionEquityPoint(models.Model):
    """The session's equity (cash plus the position at the bar's close) after one closed bar."""

    session = models.ForeignKey("strategies.TradingSession", on_delete=models.CASCADE, related_name="equity_points")
    bar_time = models.BigIntegerField()
    equity = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["bar_time"]
        constraints = [
            models.UniqueConstraint(fields=["session", "bar_time"], name="session_equity_once_a_bar"),
        ]

    def __str__(self) -> str:
        return f"{self.equity} at {self.bar_time}"
