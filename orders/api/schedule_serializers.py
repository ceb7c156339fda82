"""The API's scheduled-order shapes: a schedule out, in (create and update) and its next firings."""

from __future__ import annotations

from rest_framework import serializers

from orders.api.serializers import LocalTimeField, price_field, quantity_field
from orders.models import OrderType, ScheduledOrder, Side, TimeInForce
from tradeconsole.api_fields import StrictCharField, StrictRegexField


class ScheduledOrderOutput(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="code", read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    strategy = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    time_of_day = LocalTimeField(read_only=True)

    class Meta:
        model = ScheduledOrder
        fields = [
            "id",
            "name",
            "account",
            "symbol",
            "side",
            "quantity",
            "order_type",
            "limit_price",
            "stop_price",
            "tif",
            "strategy",
            "time_of_day",
            "time_zone",
            "weekdays",
            "valid_from",
            "valid_until",
            "exchange_calendar",
            "grace_seconds",
            "enabled",
            "created_at",
        ]


class ScheduledOrderInput(serializers.Serializer):
    """A scheduled order template: what to enter, and when (a local time of day on trading days)."""

    name = StrictCharField(max_length=100)
    account = StrictCharField(max_length=32)
    symbol = StrictCharField(max_length=32)
    side = serializers.ChoiceField(choices=Side.choices)
    quantity = quantity_field()
    order_type = serializers.ChoiceField(choices=OrderType.choices, default=OrderType.MARKET)
    limit_price = price_field(required=False, allow_null=True)
    stop_price = price_field(required=False, allow_null=True)
    tif = serializers.ChoiceField(choices=TimeInForce.choices, default=TimeInForce.DAY)
    strategy = StrictCharField(max_length=100, required=False, allow_null=True)
    time_of_day = LocalTimeField()
    time_zone = StrictCharField(max_length=64, default="America/New_York")
    weekdays = StrictRegexField(r"^[0-6](,[0-6])*$", max_length=16, default="0,1,2,3,4")
    valid_from = serializers.DateField(required=False, allow_null=True)
    valid_until = serializers.DateField(required=False, allow_null=True)
    exchange_calendar = StrictCharField(max_length=16, default="XNYS", allow_blank=True)
    grace_seconds = serializers.IntegerField(min_value=0, max_value=86400, default=60)


class ScheduledOrderUpdateInput(ScheduledOrderInput):
    """The fields to change; the account of a schedule cannot change."""

    def get_fields(self):
        fields = super().get_fields()
        fields.pop("account")
        for field in fields.values():
            field.required = False
            # A partial update changes only what was sent: no defaults fill the rest.
            field.default = serializers.empty
        return fields


class NextFiringsOutput(serializers.Serializer):
    next_firings = serializers.ListField(child=serializers.DateTimeField())
