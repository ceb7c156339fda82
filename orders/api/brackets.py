"""API of bracket entry: ``POST /api/v1/brackets/`` enters an entry order with its take-profit and stop-loss."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from accounts.api.idempotency import idempotent
from accounts.api.permissions import DeskPermission
from accounts.api.throttling import OrderEntryThrottle
from orders.api import serializers as s
from orders.api.views import IDEMPOTENCY_PARAMETER, VIA, _account_or_field_error
from orders.models import OrderSource, OrderType, Side, TimeInForce
from orders.services import bracket_submit, duplicate_refusals_audited
from tradeconsole.api_fields import StrictCharField


class BracketCreateInput(s.FlatSerializer):
    """A bracket: the entry order, and on the other side a take-profit (limit) and a stop-loss (stop).

    The three are sent to the broker as one chain: the take-profit and the stop-loss work only once
    the entry fills, a fill of one cancels the other, and cancelling the entry cancels both.
    """

    account = StrictCharField(max_length=32)
    symbol = StrictCharField(max_length=32)
    side = serializers.ChoiceField(choices=Side.choices, help_text="The entry's side; the exits take the other")
    quantity = s.quantity_field()
    order_type = serializers.ChoiceField(choices=OrderType.choices, default=OrderType.LIMIT, help_text="The entry's")
    limit_price = s.price_field(required=False, allow_null=True, help_text="The entry's limit (LMT)")
    stop_price = s.price_field(required=False, allow_null=True, help_text="The entry's stop (STP)")
    take_profit_price = s.price_field(help_text="Limit price of the take-profit (a buy: above the entry)")
    stop_loss_price = s.price_field(help_text="Stop price of the stop-loss (a buy: below the entry)")
    tif = serializers.ChoiceField(choices=TimeInForce.choices, default=TimeInForce.DAY)
    outside_rth = serializers.BooleanField(default=False)
    client_order_id = serializers.UUIDField(required=False, allow_null=True, help_text="Your id for the entry")
    take_profit_client_order_id = serializers.UUIDField(required=False, allow_null=True)
    stop_loss_client_order_id = serializers.UUIDField(required=False, allow_null=True)
    allow_duplicate = serializers.BooleanField(
        default=False, help_text="true: enter it even if you entered the same entry order moments ago"
    )


class BracketOutput(serializers.Serializer):
    entry = s.OrderOutput()
    take_profit = s.OrderOutput()
    stop_loss = s.OrderOutput()


class BracketCreateApi(generics.GenericAPIView):
    """Enter a bracket (entry + take-profit + stop-loss), sent to the broker as one chain."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.add_order"}
    parser_classes = [JSONParser]
    serializer_class = BracketCreateInput

    def get_throttles(self):
        return [OrderEntryThrottle()]

    @extend_schema(
        request=BracketCreateInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: BracketOutput, 200: BracketOutput},
    )
    def post(self, request):
        with duplicate_refusals_audited(actor=request.user, via=VIA):
            return idempotent(request, validate=lambda: self._validate(request), perform=self._submit_for(request))

    def _validate(self, request) -> dict:
        data = BracketCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["account"] = _account_or_field_error(request, values["account"])
        return values

    def _submit_for(self, request):
        def submit(values: dict) -> Response:
            symbol = values.pop("symbol")
            confirm = values.pop("allow_duplicate", False)
            bracket = bracket_submit(
                actor=request.user,
                instrument=symbol,
                source=OrderSource.API,
                confirm_duplicate=confirm,
                via=VIA,
                **values,
            )
            body = BracketOutput(
                {"entry": bracket.entry, "take_profit": bracket.take_profit, "stop_loss": bracket.stop_loss}
            ).data
            response = Response(body, status=status.HTTP_201_CREATED)
            response["Location"] = reverse(
                "api-v1:order-detail", kwargs={"client_order_id": bracket.entry.client_order_id}
            )
            return response

        return submit
