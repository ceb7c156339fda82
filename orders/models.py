"""Instruments, orders and their history, fills, positions, risk limits, scheduled orders."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from accounts.models import BrokerAccount
from execution_worker import messages as contract
from tradeconsole.clock import desk_time

QUANTITY = {"max_digits": 18, "decimal_places": 4}
PRICE = {"max_digits": 18, "decimal_places": 6}
MONEY = {"max_digits": 20, "decimal_places": 4}


class Instrument(models.Model):
    """A contract the desk may trade (US stocks for now)."""

    symbol = models.CharField(max_length=32)
    sec_type = models.CharField(max_length=8, default="STK")
    exchange = models.CharField(max_length=16, default="SMART")
    primary_exchange = models.CharField(max_length=16, blank=True)
    currency = models.CharField(max_length=3, default="USD")
    con_id = models.BigIntegerField(null=True, blank=True, unique=True, help_text="IB contract id")
    min_tick = models.DecimalField(
        default=Decimal("0.01"), validators=[MinValueValidator(Decimal("0.000001"))], **PRICE
    )
    multiplier = models.PositiveIntegerField(default=1)
    # Whole shares unless the instrument says otherwise (IB's ContractDetails minSize, sizeIncrement).
    min_quantity = models.DecimalField(
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="The smallest quantity an order may have.",
        **QUANTITY,
    )
    quantity_increment = models.DecimalField(
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0.0001"))],
        help_text="An order's quantity is a whole number of this increment.",
        **QUANTITY,
    )
    description = models.CharField(max_length=128, blank=True)
    active = models.BooleanField(default=True)
    last_price = models.DecimalField(null=True, blank=True, help_text="Reference price for the collar", **PRICE)
    last_price_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["symbol"]
        constraints = [
            models.UniqueConstraint(fields=["symbol", "sec_type", "exchange", "currency"], name="uniq_instrument"),
        ]

    def __str__(self) -> str:
        return self.symbol


def _contract_choices(name: str, labels: dict[str, str], member=lambda value, label: value) -> type[models.TextChoices]:
    """TextChoices of one of the stream contract's enumerations: its values and labels, in its order."""
    members = [(member(value, label), (value, label)) for value, label in labels.items()]
    return models.TextChoices(name, members, module=__name__)


# Built from the contract (execution_worker.messages) so a new side, order type or TIF is written once.
Side = _contract_choices("Side", contract.SIDE_LABELS)
# Members are named from the label: MARKET, LIMIT, STOP, STOP_LIMIT.
OrderType = _contract_choices(
    "OrderType", contract.ORDER_TYPE_LABELS, lambda value, label: label.upper().replace(" ", "_")
)
TimeInForce = _contract_choices("TimeInForce", contract.TIF_LABELS)


class OrderSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    SCHEDULER = "scheduler", "Scheduler"
    MONITOR = "monitor", "Monitor"
    STRATEGY = "strategy", "Strategy"
    EXTERNAL = "external", "External (placed in TWS)"


class OcaType(models.IntegerChoices):
    """IB's ``ocaType``: what a fill of one order of an OCA group does to the others, at the broker."""

    CANCEL = 1, "Cancel the others (with block)"
    REDUCE_BLOCK = 2, "Reduce the others (with block)"
    REDUCE = 3, "Reduce the others (no block)"


class OrderStatus(models.TextChoices):
    """The order states; ``orders.transitions`` says which moves are allowed."""

    PENDING_APPROVAL = "PENDING_APPROVAL", "Pending approval"
    NEW = "NEW", "New"
    SUBMITTING = "SUBMITTING", "Submitting"
    SUBMITTED = "SUBMITTED", "Submitted"
    PARTIALLY_FILLED = "PARTIALLY_FILLED", "Partially filled"
    FILLED = "FILLED", "Filled"
    CANCEL_REQUESTED = "CANCEL_REQUESTED", "Cancel requested"
    CANCELLED = "CANCELLED", "Cancelled"
    REJECTED = "REJECTED", "Rejected"
    INACTIVE = "INACTIVE", "Inactive"
    SUBMIT_UNKNOWN = "SUBMIT_UNKNOWN", "Submitted, outcome unknown"


class Order(models.Model):
    """One order intent, from entry to its final state.

    ``client_order_id`` is created with the intent, never changes, travels in every message and
    is IB's ``Order.orderRef``.
    """

    client_order_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="orders")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="orders")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(**QUANTITY)
    order_type = models.CharField(max_length=8, choices=OrderType.choices, default=OrderType.LIMIT)
    limit_price = models.DecimalField(null=True, blank=True, **PRICE)
    stop_price = models.DecimalField(null=True, blank=True, **PRICE)
    tif = models.CharField(max_length=4, choices=TimeInForce.choices, default=TimeInForce.DAY)
    outside_rth = models.BooleanField(default=False)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="The parent of a bracket's child orders.",
    )
    oca_group = models.CharField(max_length=64, blank=True)
    oca_type = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        choices=OcaType.choices,
        help_text="What a fill in the OCA group does to the other orders at the broker (blank: TWS's default, 3).",
    )
    not_before = models.DateTimeField(null=True, blank=True, help_text="Do not send before this time.")
    source = models.CharField(max_length=16, choices=OrderSource.choices, default=OrderSource.ADMIN)
    trading_session = models.ForeignKey(
        "strategies.TradingSession", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders"
    )
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.NEW, db_index=True)
    ib_order_id = models.IntegerField(null=True, blank=True)
    perm_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    broker_status = models.CharField(max_length=32, blank=True, help_text="IB's last status word")
    filled_quantity = models.DecimalField(default=Decimal("0"), **QUANTITY)
    average_fill_price = models.DecimalField(null=True, blank=True, **PRICE)
    reject_code = models.CharField(max_length=64, blank=True)
    reject_reason = models.CharField(max_length=500, blank=True)
    # A modify the broker has not answered yet (see ``orders.services.order_modify``): a new quantity
    # waits apart until the broker confirms it; new prices apply at once, the prior ones kept to
    # be restored if the broker refuses.
    pending_quantity = models.DecimalField(null=True, blank=True, help_text="Requested, unconfirmed", **QUANTITY)
    modify_prior = models.JSONField(default=dict, blank=True, help_text="Prices before an unconfirmed modify")
    modify_requested_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="order_quantity_positive"),
            models.CheckConstraint(condition=models.Q(filled_quantity__gte=0), name="order_filled_not_negative"),
        ]
        indexes = [models.Index(fields=["account", "status"])]
        permissions = [("approve_order", "Can approve orders awaiting approval")]

    def __str__(self) -> str:
        return f"{self.side} {self.quantity.normalize():f} {self.instrument} ({self.status})"

    @property
    def remaining_quantity(self) -> Decimal:
        return self.quantity - self.filled_quantity


class OrderEvent(models.Model):
    """Append-only history of an order: every transition and every broker message about it.

    ``message_id`` is the stream message that caused it, unique so a redelivered event is a no-op.
    ``applied`` is False for an event that was recorded and ignored (a backward move, a duplicate).
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    kind = models.CharField(max_length=32, help_text="submitted, order.status, order.filled, cancel_requested…")
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    applied = models.BooleanField(default=True)
    message_id = models.UUIDField(null=True, blank=True, unique=True)
    detail = models.CharField(max_length=500, blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}→{self.to_status}"


class Fill(models.Model):
    """One execution, unique by IB's ``execId``."""

    exec_id = models.CharField(max_length=64, unique=True)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="fills")
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="fills")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="fills")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(**QUANTITY)
    price = models.DecimalField(**PRICE)
    executed_at = models.DateTimeField(db_index=True)
    commission = models.DecimalField(null=True, blank=True, **MONEY)
    commission_currency = models.CharField(max_length=3, blank=True)
    broker_realized_pnl = models.DecimalField(null=True, blank=True, **MONEY)
    realized_pnl = models.DecimalField(default=Decimal("0"), help_text="FIFO realized PnL of this fill", **MONEY)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-executed_at", "-id"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="fill_quantity_positive")]
        indexes = [models.Index(fields=["account", "instrument", "executed_at"])]

    def __str__(self) -> str:
        return f"{self.exec_id} {self.side} {self.quantity.normalize():f} @ {self.price.normalize():f}"


class Position(models.Model):
    """The book's position of one account in one instrument, following fills (FIFO)."""

    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="positions")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="positions")
    quantity = models.DecimalField(default=Decimal("0"), **QUANTITY)
    average_cost = models.DecimalField(default=Decimal("0"), **PRICE)
    realized_pnl = models.DecimalField(default=Decimal("0"), **MONEY)
    broker_quantity = models.DecimalField(
        null=True, blank=True, help_text="Last quantity the broker reported", **QUANTITY
    )
    broker_average_cost = models.DecimalField(null=True, blank=True, **PRICE)
    broker_reported_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "instrument"]
        constraints = [models.UniqueConstraint(fields=["account", "instrument"], name="uniq_position")]

    def __str__(self) -> str:
        return f"{self.account} {self.instrument} {self.quantity.normalize():f}"


class PendingCommission(models.Model):
    """IB's commission report for an execution not recorded yet; ``fill_record`` attaches and deletes it.

    Commission reports may reach the bridge before their execution (redelivered or claimed
    entries are applied after newer ones); keeping them here means none is lost.
    """

    exec_id = models.CharField(max_length=64, unique=True)
    commission = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, blank=True)
    realized_pnl = models.DecimalField(null=True, blank=True, **MONEY)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"commission of {self.exec_id}"


class PositionLot(models.Model):
    """An open FIFO lot of a position: what is left of one opening fill."""

    position = models.ForeignKey(Position, on_delete=models.CASCADE, related_name="lots")
    fill = models.ForeignKey(Fill, on_delete=models.PROTECT, related_name="+")
    quantity = models.DecimalField(help_text="Signed: positive long, negative short", **QUANTITY)
    price = models.DecimalField(**PRICE)
    opened_at = models.DateTimeField()

    class Meta:
        ordering = ["opened_at", "id"]

    def __str__(self) -> str:
        return f"{self.quantity.normalize():f} @ {self.price.normalize():f}"


class RiskLimit(models.Model):
    """Pre-trade limits of one account, checked by ``order_submit`` and again by the worker."""

    account = models.OneToOneField(BrokerAccount, on_delete=models.CASCADE, related_name="risk_limit")
    max_order_quantity = models.DecimalField(default=Decimal("1000"), **QUANTITY)
    max_order_notional = models.DecimalField(default=Decimal("100000"), **MONEY)
    max_position = models.DecimalField(
        default=Decimal("5000"), help_text="Absolute quantity per instrument", **QUANTITY
    )
    max_daily_loss = models.DecimalField(default=Decimal("10000"), **MONEY)
    price_collar_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=Decimal("5.00"),
        help_text="A limit price may be at most this % away from the last price.",
    )
    orders_per_minute = models.PositiveIntegerField(default=60)
    approval_above_notional = models.DecimalField(
        null=True,
        blank=True,
        help_text="Orders above this notional wait for a risk manager's approval; empty: never.",
        **MONEY,
    )
    allowed_instruments = models.ManyToManyField(
        Instrument, blank=True, related_name="+", help_text="Empty means every active instrument."
    )
    # Policies the monitoring loop applies (a strategy's parameters of the same names override them).
    stop_loss_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Protect every position with a stop this % beyond its average cost; empty: no stop.",
    )
    take_profit_pct = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Protect every position with a take-profit limit this % beyond its average cost; empty: none.",
    )
    stale_order_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="A limit order working longer than this is stale; empty: never."
    )
    stale_order_action = models.CharField(
        max_length=8, choices=[("reprice", "Re-price toward the touch"), ("cancel", "Cancel")], default="reprice"
    )
    stale_reprice_max = models.PositiveIntegerField(
        default=3, help_text="Re-price a stale order at most this many times, then cancel it."
    )
    reject_retry_max = models.PositiveIntegerField(
        default=0, help_text="Re-place an order rejected for a transient reason at most this many times."
    )
    duplicate_window_seconds = models.PositiveIntegerField(
        default=30,
        help_text="An order a person enters that is identical to one they entered on this account this many "
        "seconds before needs a confirmation (API: allow_duplicate); 0: never.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Risk limits of {self.account}"


class ScheduledOrder(models.Model):
    """An order template fired at a local time of day on trading days (firing: ``tasks``)."""

    name = models.CharField(max_length=100)
    account = models.ForeignKey(BrokerAccount, on_delete=models.PROTECT, related_name="scheduled_orders")
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="+")
    side = models.CharField(max_length=4, choices=Side.choices)
    quantity = models.DecimalField(**QUANTITY)
    order_type = models.CharField(max_length=8, choices=OrderType.choices, default=OrderType.MARKET)
    limit_price = models.DecimalField(null=True, blank=True, **PRICE)
    stop_price = models.DecimalField(null=True, blank=True, **PRICE)
    tif = models.CharField(max_length=4, choices=TimeInForce.choices, default=TimeInForce.DAY)
    strategy = models.ForeignKey(
        "strategies.Strategy", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    time_of_day = models.TimeField()
    time_zone = models.CharField(max_length=64, default="America/New_York")
    weekdays = models.CharField(max_length=16, default="0,1,2,3,4", help_text="Monday=0 … Sunday=6, comma-separated")
    valid_from = models.DateField(null=True, blank=True)
    valid_until = models.DateField(null=True, blank=True)
    exchange_calendar = models.CharField(max_length=16, default="XNYS")
    grace_seconds = models.PositiveIntegerField(default=60)
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["time_of_day", "name"]
        constraints = [models.CheckConstraint(condition=models.Q(quantity__gt=0), name="scheduled_quantity_positive")]

    def __str__(self) -> str:
        return self.name


class ScheduledOrderRun(models.Model):
    """One occurrence of a scheduled order on one trading date; unique, so it fires at most once."""

    class Status(models.TextChoices):
        FIRED = "fired", "Fired"
        MISSED = "missed", "Missed"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Refused"

    schedule = models.ForeignKey(ScheduledOrder, on_delete=models.PROTECT, related_name="runs")
    trading_date = models.DateField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices)
    order = models.OneToOneField(Order, null=True, blank=True, on_delete=models.PROTECT, related_name="scheduled_run")
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-due_at"]
        constraints = [models.UniqueConstraint(fields=["schedule", "trading_date"], name="uniq_schedule_run_per_date")]

    def __str__(self) -> str:
        return f"{self.schedule} {self.trading_date} {self.status}"


class PnLPoint(models.Model):
    """A point of an account's intraday PnL curve, stored by the monitoring loop."""

    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="pnl_points")
    at = models.DateTimeField(db_index=True)
    realized_pnl = models.DecimalField(**MONEY)
    unrealized_pnl = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["account", "at"]
        indexes = [models.Index(fields=["account", "at"])]
        verbose_name = "PnL point"

    def __str__(self) -> str:
        return f"{self.account} {desk_time(self.at, '%Y-%m-%d %H:%M')} {self.total_pnl.normalize():f}"

    @property
    def total_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl
