"""Flatten in the API: a position, an account or the whole desk (``orders.services.flatten``).

Each POST takes the reason, the order type (``MKT`` or ``LMT`` at the quote) and an optional
``flatten_id`` (a UUID the caller chooses: the same id posted again enters no second order).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.api.permissions import DeskPermission
from orders.api.serializers import OrderOutput
from orders.models import Position
from orders.services import account_flatten, desk_flatten, kill_switch_cancel_and_flatten, position_flatten
from orders.services.flatten import FlattenOutcome

VIA = "api"


# The order types a flatten may use (named apart from every order type in the OpenAPI schema).
FLATTEN_ORDER_TYPE_CHOICES = [("MKT", "Market"), ("LMT", "Limit at the quote")]


class FlattenInput(serializers.Serializer):
    reason = serializers.CharField(max_length=255)
    order_type = serializers.ChoiceField(choices=FLATTEN_ORDER_TYPE_CHOICES, default="MKT")
    flatten_id = serializers.UUIDField(required=False, allow_null=True)


class DeskFlattenInput(FlattenInput):
    cancel_and_flatten = serializers.BooleanField(
        default=False, help_text="Engage the kill switch (cancelling every working order) and flatten past it"
    )


class FlattenRefusalOutput(serializers.Serializer):
    account = serializers.CharField()
    symbol = serializers.CharField()
    code = serializers.CharField()
    detail = serializers.CharField()


class FlattenOutput(serializers.Serializer):
    flatten_id = serializers.UUIDField()
    orders = OrderOutput(many=True)
    cancelled = serializers.ListField(child=serializers.UUIDField(), source="cancelled_ids")
    refused = FlattenRefusalOutput(many=True)


def _answer(outcome: FlattenOutcome) -> Response:
    outcome.cancelled_ids = [order.client_order_id for order in outcome.cancelled]
    return Response(FlattenOutput(outcome).data)


class PositionFlattenApi(APIView):
    """Flatten one position of your accounts (Trader): cancel its working orders, close it."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.add_order"}

    @extend_schema(request=FlattenInput, responses=FlattenOutput)
    def post(self, request, pk):
        accounts = account_selectors.accounts_for_user(request.user)
        position = get_object_or_404(Position.objects.filter(account__in=accounts), pk=pk)
        data = FlattenInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(position_flatten(position=position, actor=request.user, via=VIA, **data.validated_data))


class AccountFlattenApi(APIView):
    """Flatten every open position of one of your accounts (Trader)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.add_order"}

    @extend_schema(request=FlattenInput, responses=FlattenOutput)
    def post(self, request, code):
        account = get_object_or_404(account_selectors.accounts_for_user(request.user), code=code)
        data = FlattenInput(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(account_flatten(account=account, actor=request.user, via=VIA, **data.validated_data))


class DeskFlattenApi(APIView):
    """Flatten every open position of the desk (kill switch permission).

    ``cancel_and_flatten`` engages the kill switch first (cancelling every working order).
    """

    permission_classes = [DeskPermission]
    write_perms = {"POST": "accounts.change_killswitch"}

    @extend_schema(request=DeskFlattenInput, responses=FlattenOutput)
    def post(self, request):
        data = DeskFlattenInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        service = kill_switch_cancel_and_flatten if values.pop("cancel_and_flatten") else desk_flatten
        return _answer(service(actor=request.user, via=VIA, **values))


# Included by tradeconsole.api under /api/v1/ beside orders.api.urls.
urlpatterns = [
    path("positions/<int:pk>/flatten/", PositionFlattenApi.as_view(), name="position-flatten"),
    path("accounts/<str:code>/flatten/", AccountFlattenApi.as_view(), name="account-flatten"),
    path("desk/flatten/", DeskFlattenApi.as_view(), name="desk-flatten"),
]
