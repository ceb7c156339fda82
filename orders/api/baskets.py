"""Baskets in the API: send a list of orders as one (JSON lines or a CSV file), preview it, read its
progress, cancel its working orders (``orders.services.baskets``).

A basket's lines are checked all or nothing: one refused line refuses the basket
(``basket.line_refused``, 422) and its ``lines`` name each refused line with its own code. A CSV
upload whose rows cannot be read is ``basket.csv_invalid`` (400), each row in ``rows``. Previews are
throttled per user (``throttled``, 429 with ``Retry-After``); a sent basket counts as one order entry.
``client_basket_id`` (a UUID the caller chooses) sent again returns the basket already entered.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from accounts.api.permissions import DeskPermission
from accounts.api.throttling import BasketPreviewThrottle, OrderEntryThrottle
from orders.api import serializers as s
from orders.api.views import VIA, _account_or_field_error
from orders.basket_csv import MAX_BYTES, basket_csv_read
from orders.exceptions_baskets import BasketCsvInvalid
from orders.models import Basket, OrderSource
from orders.selectors_baskets import basket_get, basket_list, basket_orders, basket_progress
from orders.services import basket_cancel, basket_check, basket_submit


class BasketLineInput(serializers.Serializer):
    """One order of a basket; its values are checked as ``order_submit`` checks them, line by line."""

    symbol = serializers.CharField(max_length=32)
    side = serializers.CharField(max_length=8, help_text="BUY or SELL")
    quantity = serializers.CharField(max_length=32)
    order_type = serializers.CharField(
        max_length=8, required=False, allow_blank=True, help_text="Default: LMT with a limit price, else MKT"
    )
    limit_price = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    stop_price = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    tif = serializers.CharField(max_length=4, required=False, allow_blank=True, help_text="Default: DAY")


class BasketInput(serializers.Serializer):
    """A basket: its account and its lines, as JSON ``lines`` or a CSV ``file`` (multipart)."""

    account = serializers.CharField(max_length=32)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    client_basket_id = serializers.UUIDField(required=False, allow_null=True, help_text="Your id for the basket")
    allow_duplicate = serializers.BooleanField(
        default=False, help_text="true: enter lines identical to orders you entered moments ago, or to each other"
    )
    lines = BasketLineInput(many=True, required=False)
    file = serializers.FileField(required=False, help_text="CSV: symbol, side, quantity[, order_type, limit_price…]")

    def validate(self, attrs):
        if bool(attrs.get("lines")) == bool(attrs.get("file")):
            raise serializers.ValidationError({"lines": ["Send the basket's lines, or a CSV file, not both."]})
        return attrs


class BasketProgressOutput(serializers.Serializer):
    orders = serializers.IntegerField()
    working = serializers.IntegerField()
    filled = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    quantity = serializers.CharField()
    filled_quantity = serializers.CharField()
    done = serializers.BooleanField()


class BasketOutput(serializers.Serializer):
    id = serializers.IntegerField()
    client_basket_id = serializers.UUIDField()
    name = serializers.CharField()
    account = serializers.CharField(source="account.code")
    status = serializers.ChoiceField(choices=Basket.Status.choices)
    created_by = serializers.CharField(source="created_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    progress = BasketProgressOutput(source="progress_data")


class BasketDetailOutput(BasketOutput):
    orders = s.OrderOutput(many=True, source="order_list")


class BasketLineOutput(serializers.Serializer):
    line = serializers.IntegerField(source="number")
    values = serializers.DictField()
    status = serializers.CharField(help_text="The status the order would enter in; blank when refused")
    notional = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    code = serializers.CharField(help_text="Blank: the line passes")
    detail = serializers.CharField()
    field = serializers.CharField()


class BasketPreviewOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    notional = serializers.DecimalField(max_digits=20, decimal_places=2)
    lines = BasketLineOutput(many=True)
    rows = serializers.ListField(child=serializers.DictField(), help_text="CSV rows that could not be read")


class BasketCancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class BasketCancelOutput(serializers.Serializer):
    basket = BasketOutput()
    cancelled = serializers.ListField(child=serializers.UUIDField())
    refused = serializers.ListField(child=serializers.DictField())


def _with_progress(baskets: list[Basket]) -> list[Basket]:
    progress = basket_progress(baskets)
    for basket in baskets:
        basket.progress_data = progress[basket.pk].data()
    return baskets


def _detail(basket: Basket) -> dict:
    _with_progress([basket])
    basket.order_list = list(basket_orders(basket))
    return BasketDetailOutput(basket).data


def _basket_values(request) -> tuple[dict, list]:
    """The validated basket and its lines (read from the CSV file when one was sent), and any unreadable rows."""
    data = BasketInput(data=request.data)
    data.is_valid(raise_exception=True)
    values = dict(data.validated_data)
    values["account"] = _account_or_field_error(request, values["account"])
    upload = values.pop("file", None)
    rows: list = []
    if upload is not None:
        # One byte past the limit is enough to refuse it; a large file is never read whole.
        parsed = basket_csv_read(upload.read(MAX_BYTES + 1))
        values["lines"], rows = parsed.lines, parsed.errors
    return values, rows


class BasketListCreateApi(generics.GenericAPIView):
    """Baskets of your accounts with their progress; send a basket (Trader)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.add_order"}
    parser_classes = [JSONParser, MultiPartParser]
    serializer_class = BasketInput

    def get_throttles(self):
        return [OrderEntryThrottle()] if self.request.method == "POST" else []

    @extend_schema(responses=BasketOutput(many=True))
    def get(self, request):
        page = self.paginate_queryset(basket_list(user=request.user))
        return self.get_paginated_response(BasketOutput(_with_progress(list(page)), many=True).data)

    @extend_schema(request=BasketInput, responses={201: BasketDetailOutput, 200: BasketDetailOutput})
    def post(self, request):
        values, rows = _basket_values(request)
        if rows:
            raise BasketCsvInvalid(field="file", extra={"rows": rows})
        again = values.get("client_basket_id") is not None and (
            Basket.objects.filter(client_basket_id=values["client_basket_id"]).exists()
        )
        basket = basket_submit(
            actor=request.user,
            account=values["account"],
            lines=values["lines"],
            name=values["name"],
            client_basket_id=values.get("client_basket_id"),
            source=OrderSource.API,
            confirm_duplicate=values["allow_duplicate"],
            via=VIA,
        )
        response = Response(_detail(basket), status=status.HTTP_200_OK if again else status.HTTP_201_CREATED)
        response["Location"] = reverse("api-v1:basket-detail", kwargs={"pk": basket.pk})
        return response


class BasketPreviewApi(generics.GenericAPIView):
    """Check a basket line by line, as sending it would, and enter nothing (Trader)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.add_order"}
    parser_classes = [JSONParser, MultiPartParser]
    serializer_class = BasketInput
    # Each preview runs its lines under the account's lock: repeated, it would stall that account's
    # order entry. The Baskets page's previews count in the same throttle.
    throttle_classes = [BasketPreviewThrottle]

    @extend_schema(request=BasketInput, responses=BasketPreviewOutput)
    def post(self, request):
        values, rows = _basket_values(request)
        check = None
        if values["lines"]:
            check = basket_check(
                actor=request.user,
                account=values["account"],
                lines=values["lines"],
                source=OrderSource.API,
                confirm_duplicate=values["allow_duplicate"],
            )
        lines = check.lines if check else []
        body = {
            "ok": bool(check and check.ok and not rows),
            "notional": check.notional if check else 0,
            "lines": lines,
            "rows": rows,
        }
        return Response(BasketPreviewOutput(body).data)


class BasketDetailApi(generics.GenericAPIView):
    """One basket of your accounts: its orders and its progress."""

    permission_classes = [DeskPermission]

    @extend_schema(responses=BasketDetailOutput)
    def get(self, request, pk):
        return Response(_detail(basket_get(user=request.user, pk=pk)))


class BasketCancelApi(generics.GenericAPIView):
    """Cancel every working order of a basket of your accounts (Trader), with a reason."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.change_order"}
    serializer_class = BasketCancelInput

    @extend_schema(request=BasketCancelInput, responses=BasketCancelOutput)
    def post(self, request, pk):
        basket = basket_get(user=request.user, pk=pk)
        data = BasketCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = basket_cancel(actor=request.user, basket=basket, reason=data.validated_data["reason"], via=VIA)
        body = {
            "basket": _with_progress([outcome.basket])[0],
            "cancelled": [order.client_order_id for order in outcome.cancelled],
            "refused": outcome.refused,
        }
        return Response(BasketCancelOutput(body).data)
