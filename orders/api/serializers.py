"""Serializers of the orders API. Input serializers list every field they accept; the rest is ignored.

Inputs check shape and type only (a decimal is a finite decimal, a choice is one of its
choices); the services check meaning (quantity above zero, prices on the tick, risk limits) and
refuse with a domain ``code`` and the ``field`` at fault.
"""

from __future__ import annotations

import copy
import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.models import (
    PRICE,
    QUANTITY,
    Fill,
    Instrument,
    OcaType,
    OrderEvent,
    OrderSource,
    OrderStatus,
    OrderType,
    PnLPoint,
    Position,
    RiskLimit,
    Side,
    TimeInForce,
)
from orders.selectors import order_decision
from orders.services import RISK_LIMIT_FIELDS, RISK_POLICY_FIELDS
from tradeconsole.api_fields import StrictCharField


class FlatSerializer(serializers.Serializer):
    """A serializer whose plain fields are copied for each instance instead of rebuilt.

    DRF deep-copies every declared field for each serializer instance, which re-runs each
    field's constructor (choices, validators): on order entry that cost more than reading and
    writing the order's fields. A field's settings never change once declared and binding sets
    only attributes of the copy, so a shallow copy per instance is enough; a nested serializer
    is still deep-copied, since its own fields are bound to it.
    """

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            name: copy.deepcopy(field) if isinstance(field, serializers.BaseSerializer) else _shallow_copy(field)
            for name, field in self._declared_fields.items()
        }


def _shallow_copy(field: serializers.Field) -> serializers.Field:
    """``copy.copy(field)`` without its generic reduce protocol (a DRF field has no ``__copy__``
    and no slots: the copy is a new instance sharing the attributes), at a third of its cost."""
    duplicate = object.__new__(type(field))
    duplicate.__dict__.update(field.__dict__)
    return duplicate


LOCAL_TIME_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"
_LOCAL_TIME = re.compile(LOCAL_TIME_PATTERN.replace("$", r"\Z"))


@extend_schema_field(
    {
        "type": "string",
        "pattern": LOCAL_TIME_PATTERN,
        "example": "09:35:00",
        "description": "A wall-clock time in the schedule's time_zone (HH:MM[:SS]), without an offset.",
    }
)
class LocalTimeField(serializers.TimeField):
    """A time of day on the wall clock of a named zone: no UTC offset, so not RFC 3339's ``time``."""

    def to_internal_value(self, value):
        if not isinstance(value, str) or not _LOCAL_TIME.match(value):
            self.fail("invalid", format="HH:MM[:SS]")
        return super().to_internal_value(value)


def quantity_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(**QUANTITY, **kwargs)


def price_field(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(**PRICE, **kwargs)


class InstrumentOutput(serializers.ModelSerializer):
    class Meta:
        model = Instrument
        fields = [
            "id",
            "symbol",
            "sec_type",
            "exchange",
            "primary_exchange",
            "currency",
            "con_id",
            "min_tick",
            "multiplier",
            "min_quantity",
            "quantity_increment",
            "description",
            "active",
            "last_price",
            "last_price_at",
        ]


class OrderEventOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", read_only=True, allow_null=True)

    class Meta:
        model = OrderEvent
        fields = ["created_at", "kind", "from_status", "to_status", "applied", "detail", "data", "actor"]


class FillOutput(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="code", read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    client_order_id = serializers.UUIDField(source="order.client_order_id", read_only=True, allow_null=True)

    class Meta:
        model = Fill
        fields = [
            "exec_id",
            "client_order_id",
            "account",
            "symbol",
            "side",
            "quantity",
            "price",
            "executed_at",
            "commission",
            "commission_currency",
            "realized_pnl",
        ]


class OrderOutput(FlatSerializer):
    """An order. Declared field by field (not a ModelSerializer): it is built on every order entry,
    and deriving fields from the model on each request cost more than the rest of the serializing."""

    client_order_id = serializers.UUIDField(read_only=True)
    account = serializers.CharField(source="account.code", read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    side = serializers.ChoiceField(choices=Side.choices, read_only=True)
    quantity = quantity_field(read_only=True)
    order_type = serializers.ChoiceField(choices=OrderType.choices, read_only=True)
    limit_price = price_field(read_only=True, allow_null=True)
    stop_price = price_field(read_only=True, allow_null=True)
    tif = serializers.ChoiceField(choices=TimeInForce.choices, read_only=True)
    outside_rth = serializers.BooleanField(read_only=True)
    parent = serializers.UUIDField(source="parent.client_order_id", read_only=True, allow_null=True)
    oca_group = serializers.CharField(read_only=True)
    oca_type = serializers.IntegerField(read_only=True, allow_null=True)
    not_before = serializers.DateTimeField(read_only=True, allow_null=True)
    source = serializers.ChoiceField(choices=OrderSource.choices, read_only=True)
    trading_session = serializers.IntegerField(source="trading_session_id", read_only=True, allow_null=True)
    strategy = serializers.CharField(source="trading_session.strategy.name", read_only=True, allow_null=True)
    basket = serializers.IntegerField(source="basket_id", read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=OrderStatus.choices, read_only=True)
    ib_order_id = serializers.IntegerField(read_only=True, allow_null=True)
    perm_id = serializers.IntegerField(read_only=True, allow_null=True)
    broker_status = serializers.CharField(read_only=True)
    filled_quantity = quantity_field(read_only=True)
    average_fill_price = price_field(read_only=True, allow_null=True)
    reject_code = serializers.CharField(read_only=True)
    reject_reason = serializers.CharField(read_only=True)
    # A modify the broker has not answered (a quantity waits apart; prices and TIF show the asked values),
    # and the last refusal of one.
    pending_quantity = quantity_field(read_only=True, allow_null=True)
    modify_requested_at = serializers.DateTimeField(read_only=True, allow_null=True)
    modify_refusal = serializers.CharField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, allow_null=True)
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    submitted_at = serializers.DateTimeField(read_only=True, allow_null=True)
    completed_at = serializers.DateTimeField(read_only=True, allow_null=True)


class OrderDecisionOutput(serializers.Serializer):
    """The strategy decision that placed an order: its session, the deciding bar (epoch seconds), and why.

    ``values``: {node id: {"type": node type, "outputs": {port: value at the bar}}}.
    """

    session = serializers.IntegerField(source="session_id", read_only=True)
    bar_time = serializers.IntegerField(read_only=True)
    action = serializers.CharField(read_only=True)
    node = serializers.CharField(read_only=True)
    outcome = serializers.CharField(read_only=True)
    values = serializers.JSONField(read_only=True)


class OrderDetailOutput(OrderOutput):
    events = OrderEventOutput(many=True, read_only=True)
    fills = FillOutput(many=True, read_only=True)
    decision = serializers.SerializerMethodField()

    @extend_schema_field(OrderDecisionOutput(allow_null=True))
    def get_decision(self, order) -> dict | None:
        """The decision that placed a strategy's order (or its bracket's entry); null for any other order."""
        decision = order_decision(order)
        return OrderDecisionOutput(decision).data if decision is not None else None


class OrderCreateInput(FlatSerializer):
    """A new order. ``account`` is one of your account codes; ``symbol`` an instrument's symbol."""

    account = StrictCharField(max_length=32)
    symbol = StrictCharField(max_length=32)
    side = serializers.ChoiceField(choices=Side.choices)
    quantity = quantity_field()
    order_type = serializers.ChoiceField(choices=OrderType.choices)
    limit_price = price_field(required=False, allow_null=True)
    stop_price = price_field(required=False, allow_null=True)
    tif = serializers.ChoiceField(choices=TimeInForce.choices, default=TimeInForce.DAY)
    outside_rth = serializers.BooleanField(default=False)
    oca_group = StrictCharField(max_length=64, required=False, allow_blank=True, default="")
    oca_type = serializers.ChoiceField(
        choices=OcaType.choices,
        required=False,
        allow_null=True,
        help_text="With oca_group: what a fill does to the group's other orders at the broker "
        "(1 cancel, 2 reduce with block, 3 reduce); absent: TWS's default, 3",
    )
    not_before = serializers.DateTimeField(required=False, allow_null=True)
    parent = serializers.UUIDField(required=False, allow_null=True, help_text="client_order_id of a bracket's parent")
    trading_session = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    client_order_id = serializers.UUIDField(
        required=False, allow_null=True, help_text="Your own id for the order (IB orderRef); made for you if absent"
    )
    allow_duplicate = serializers.BooleanField(
        default=False,
        help_text="true: place it even if you entered the same order on the account moments ago "
        "(otherwise 409 order.possible_duplicate)",
    )


class OrderModifyInput(serializers.Serializer):
    quantity = quantity_field(required=False)
    limit_price = price_field(required=False)
    stop_price = price_field(required=False)
    tif = serializers.ChoiceField(
        choices=TimeInForce.choices, required=False, help_text="DAY or GTC (a working order cannot become IOC)"
    )


class OrderCancelInput(serializers.Serializer):
    reason = StrictCharField(max_length=255, required=False, allow_blank=True, default="")


class OrderFilter(serializers.Serializer):
    account = serializers.CharField(required=False, allow_blank=True, max_length=32, help_text="Account code")
    status = serializers.MultipleChoiceField(choices=OrderStatus.choices, required=False)
    open = serializers.BooleanField(required=False, help_text="true: orders not final yet")
    strategy = serializers.CharField(required=False, allow_blank=True, max_length=100, help_text="Strategy name or id")
    trading_session = serializers.IntegerField(required=False, min_value=1)
    basket = serializers.IntegerField(required=False, min_value=1, help_text="The basket's id: its orders")
    symbol = serializers.CharField(required=False, allow_blank=True, max_length=32)
    side = serializers.ChoiceField(choices=Side.choices, required=False)
    date_from = serializers.DateField(required=False, help_text="First local day, inclusive")
    date_to = serializers.DateField(required=False, help_text="Last local day, inclusive")
    q = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        source="search",
        help_text="Words, each matching the symbol, account code or client order id (prefix), the strategy"
        " or the reject reason",
    )


class FillFilter(serializers.Serializer):
    account = serializers.CharField(required=False, allow_blank=True, max_length=32)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)


class PositionOutput(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="code", read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    last_price = price_field(source="instrument.last_price", read_only=True, allow_null=True)

    class Meta:
        model = Position
        fields = [
            # The id names the position in positions/{id}/flatten/.
            "id",
            "account",
            "symbol",
            "quantity",
            "average_cost",
            "realized_pnl",
            "last_price",
            "broker_quantity",
            "broker_average_cost",
            "broker_reported_at",
            "updated_at",
        ]


class PositionFilter(serializers.Serializer):
    account = serializers.CharField(required=False, allow_blank=True, max_length=32)
    include_flat = serializers.BooleanField(required=False, default=False)


class PnLPointOutput(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="code", read_only=True)
    total_pnl = serializers.DecimalField(max_digits=21, decimal_places=4, read_only=True)

    class Meta:
        model = PnLPoint
        fields = ["account", "at", "realized_pnl", "unrealized_pnl", "total_pnl"]


class PnLFilter(serializers.Serializer):
    account = serializers.CharField(required=False, allow_blank=True, max_length=32)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class RiskLimitOutput(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="code", read_only=True)
    allowed_instruments = serializers.SlugRelatedField(slug_field="symbol", many=True, read_only=True)

    class Meta:
        model = RiskLimit
        fields = ["account", *RISK_LIMIT_FIELDS, "allowed_instruments", *RISK_POLICY_FIELDS, "updated_at"]


class RiskLimitUpdateInput(serializers.Serializer):
    max_order_quantity = quantity_field(required=False, min_value=0)
    max_order_notional = serializers.DecimalField(max_digits=20, decimal_places=4, required=False, min_value=0)
    max_position = quantity_field(required=False, min_value=0)
    max_daily_loss = serializers.DecimalField(max_digits=20, decimal_places=4, required=False, min_value=0)
    price_collar_pct = serializers.DecimalField(max_digits=6, decimal_places=2, required=False, min_value=0)
    orders_per_minute = serializers.IntegerField(required=False, min_value=0, max_value=1_000_000)
    allowed_instruments = serializers.ListField(
        child=StrictCharField(max_length=32), required=False, help_text="Symbols; empty allows every one"
    )
    approval_above_notional = serializers.DecimalField(
        max_digits=20, decimal_places=4, required=False, allow_null=True, min_value=0
    )
    stop_loss_pct = serializers.DecimalField(
        max_digits=6, decimal_places=2, required=False, allow_null=True, min_value=0
    )
    take_profit_pct = serializers.DecimalField(
        max_digits=6, decimal_places=2, required=False, allow_null=True, min_value=0
    )
    stale_order_seconds = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=2**31 - 1)
    stale_order_action = serializers.ChoiceField(
        choices=RiskLimit._meta.get_field("stale_order_action").choices, required=False
    )
    stale_reprice_max = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    reject_retry_max = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    duplicate_window_seconds = serializers.IntegerField(required=False, min_value=0, max_value=86_400)

    def validate(self, attrs):
        # A misspelt limit would otherwise be dropped silently and the PATCH answer 200.
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Not a risk limit."] for name in unknown})
        return attrs
