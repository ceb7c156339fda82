"""API views of orders: instruments, orders (idempotent entry, cancel, modify), fills, positions,
PnL history, risk limits and scheduled orders. Each calls one selector or service."""

from __future__ import annotations

from django.db.models import Prefetch
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.api.idempotency import idempotent
from accounts.api.params import query_params
from accounts.api.permissions import DeskPermission, IsDeskMember
from accounts.api.throttling import OrderEntryThrottle
from orders import scheduling, selectors, services
from orders.api import schedule_serializers as ss
from orders.api import serializers as s
from orders.models import Fill, Instrument, OrderEvent, OrderSource, PnLPoint, RiskLimit, ScheduledOrder
from orders.services import duplicate_refusals_audited, schedule_firing, schedules
from strategies.models import Strategy, TradingSession

VIA = "api"


def _account_or_field_error(request, code: str, field: str = "account"):
    """Return the caller's account ``code``; an unknown account and another desk's are the same 400."""
    account = account_selectors.account_for_member(request.user, code)
    if account is None:
        raise ValidationError({field: [f"No account {code!r} among yours."]})
    return account


class InstrumentListApi(generics.ListAPIView):
    """The instruments the desk may trade."""

    permission_classes = [IsDeskMember]
    serializer_class = s.InstrumentOutput
    queryset = Instrument.objects.all()


class InstrumentDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsDeskMember]
    serializer_class = s.InstrumentOutput
    queryset = Instrument.objects.all()


IDEMPOTENCY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    description=(
        "Required. A unique value per order intent (a UUID). A retry with the same key and body returns the "
        "first response (header Idempotent-Replayed: true); the same key while the first request runs is 409; "
        "with another body 422; keys are per user and kept 24 hours."
    ),
)


class OrderListCreateApi(generics.GenericAPIView):
    """Orders of your accounts (filters: account, status, strategy, dates…); enter a new order."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.add_order"}
    # An order is JSON or a form; a multipart upload has nothing to carry and cannot be fingerprinted.
    parser_classes = [JSONParser, FormParser]

    def get_throttles(self):
        return [OrderEntryThrottle()] if self.request.method == "POST" else []

    @extend_schema(parameters=[s.OrderFilter], responses=s.OrderOutput(many=True))
    def get(self, request):
        filters = query_params(s.OrderFilter, request)
        if "status" in filters:
            filters["status"] = sorted(filters["status"])
        page = self.paginate_queryset(selectors.order_list(user=request.user, filters=filters))
        return self.get_paginated_response(s.OrderOutput(page, many=True).data)

    @extend_schema(
        request=s.OrderCreateInput,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: s.OrderOutput, 200: s.OrderOutput},
    )
    def post(self, request):
        # Outside the idempotent transaction: a refused duplicate rolls it back, not its audit row.
        with duplicate_refusals_audited(actor=request.user, via=VIA):
            return idempotent(
                request, validate=lambda: self._validate(request), perform=lambda data: self._submit(request, data)
            )

    def _validate(self, request) -> dict:
        data = s.OrderCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values["account"] = _account_or_field_error(request, values["account"])
        parent_id = values.pop("parent", None)
        if parent_id is not None:
            values["parent"] = selectors.order_list(user=request.user).filter(client_order_id=parent_id).first()
            if values["parent"] is None:
                raise ValidationError({"parent": ["No such order among yours."]})
        session_id = values.pop("trading_session", None)
        if session_id is not None:
            values["trading_session"] = TradingSession.objects.filter(pk=session_id, account=values["account"]).first()
            if values["trading_session"] is None:
                raise ValidationError({"trading_session": ["No such trading session on this account."]})
        return values

    def _submit(self, request, values: dict) -> Response:
        symbol = values.pop("symbol")
        confirm = values.pop("allow_duplicate", False)
        order = services.order_submit(
            actor=request.user, instrument=symbol, source=OrderSource.API, confirm_duplicate=confirm, via=VIA, **values
        )
        response = Response(s.OrderOutput(order).data, status=status.HTTP_201_CREATED)
        response["Location"] = reverse("api-v1:order-detail", kwargs={"client_order_id": order.client_order_id})
        return response


class _OrderObjectMixin:
    def get_order(self, request, client_order_id):
        # order_get answers 404 for another account's order: existence is not revealed.
        return selectors.order_get(user=request.user, client_order_id=client_order_id)


class OrderDetailApi(_OrderObjectMixin, APIView):
    """One order with its events and fills; PATCH changes its quantity or prices (Trader)."""

    permission_classes = [DeskPermission]
    write_perms = {"PATCH": "orders.change_order"}

    @extend_schema(responses=s.OrderDetailOutput)
    def get(self, request, client_order_id):
        order = self.get_order(request, client_order_id)
        order = (
            type(order)
            .objects.select_related("account", "instrument", "trading_session__strategy", "created_by", "parent")
            .prefetch_related(
                Prefetch("events", queryset=OrderEvent.objects.select_related("actor")),
                Prefetch("fills", queryset=Fill.objects.select_related("account", "instrument", "order")),
            )
            .get(pk=order.pk)
        )
        return Response(s.OrderDetailOutput(order).data)

    @extend_schema(request=s.OrderModifyInput, responses=s.OrderOutput)
    def patch(self, request, client_order_id):
        order = self.get_order(request, client_order_id)
        data = s.OrderModifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_modify(order=order, actor=request.user, via=VIA, **data.validated_data)
        return Response(s.OrderOutput(order).data)


class OrderCancelApi(_OrderObjectMixin, APIView):
    """Cancel an order (Trader): at once if the broker never saw it, else a cancel request to the broker."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.change_order"}

    @extend_schema(request=s.OrderCancelInput, responses=s.OrderOutput)
    def post(self, request, client_order_id):
        order = self.get_order(request, client_order_id)
        data = s.OrderCancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = services.order_cancel(order=order, actor=request.user, via=VIA, **data.validated_data)
        return Response(s.OrderOutput(order).data)


class FillListApi(generics.ListAPIView):
    """Executions on your accounts, newest first."""

    permission_classes = [IsDeskMember]
    serializer_class = s.FillOutput

    @extend_schema(parameters=[s.FillFilter])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.fill_list(user=self.request.user, **query_params(s.FillFilter, self.request))


class PositionListApi(generics.ListAPIView):
    """Open positions of your accounts (``include_flat=true`` adds flat ones)."""

    permission_classes = [IsDeskMember]
    serializer_class = s.PositionOutput

    @extend_schema(parameters=[s.PositionFilter])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return selectors.position_list(user=self.request.user, **query_params(s.PositionFilter, self.request))


class PnLHistoryApi(generics.ListAPIView):
    """Intraday PnL points of your accounts, oldest first."""

    permission_classes = [IsDeskMember]
    serializer_class = s.PnLPointOutput

    @extend_schema(parameters=[s.PnLFilter])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = query_params(s.PnLFilter, self.request)
        visible = account_selectors.accounts_for_user(self.request.user)
        queryset = PnLPoint.objects.select_related("account").filter(account__in=visible).order_by("at", "id")
        if params.get("account"):
            queryset = queryset.filter(account__code=params["account"])
        if params.get("since"):
            queryset = queryset.filter(at__gte=params["since"])
        if params.get("until"):
            queryset = queryset.filter(at__lte=params["until"])
        return queryset


class RiskLimitListApi(generics.ListAPIView):
    """Risk limits of your accounts."""

    permission_classes = [IsDeskMember]
    serializer_class = s.RiskLimitOutput

    def get_queryset(self):
        visible = account_selectors.accounts_for_user(self.request.user)
        return (
            RiskLimit.objects.select_related("account")
            .prefetch_related("allowed_instruments")
            .filter(account__in=visible)
            .order_by("account__code")
        )


class RiskLimitDetailApi(APIView):
    """One account's risk limits; PATCH changes them (Risk manager) and publishes them to the worker."""

    permission_classes = [DeskPermission]
    write_perms = {"PATCH": "orders.change_risklimit"}

    def _limits(self, request, code: str) -> RiskLimit:
        account = get_object_or_404(account_selectors.accounts_for_user(request.user), code=code)
        return selectors.risk_limit_for_account(account)

    @extend_schema(responses=s.RiskLimitOutput)
    def get(self, request, code: str):
        return Response(s.RiskLimitOutput(self._limits(request, code)).data)

    @extend_schema(request=s.RiskLimitUpdateInput, responses=s.RiskLimitOutput)
    def patch(self, request, code: str):
        limits = self._limits(request, code)
        data = s.RiskLimitUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        limits = services.risk_limit_update(risk_limit=limits, actor=request.user, via=VIA, **data.validated_data)
        return Response(s.RiskLimitOutput(limits).data)


def _scheduled_orders(request):
    visible = account_selectors.accounts_for_user(request.user)
    return ScheduledOrder.objects.select_related("account", "instrument", "strategy").filter(account__in=visible)


def _schedule_values(request, values: dict) -> dict:
    """Turn the input's codes and names into rows: symbol → instrument, strategy name → strategy."""
    values = dict(values)
    if "account" in values:
        values["account"] = _account_or_field_error(request, values["account"])
    if "symbol" in values:
        instrument = Instrument.objects.filter(symbol=values.pop("symbol").upper()).order_by("-active", "id").first()
        if instrument is None:
            raise ValidationError({"symbol": ["No such instrument."]})
        values["instrument"] = instrument
    if values.get("strategy"):
        strategy = Strategy.objects.filter(name=values["strategy"]).first()
        if strategy is None:
            raise ValidationError({"strategy": ["No such strategy."]})
        values["strategy"] = strategy
    return values


class ScheduledOrderListCreateApi(generics.GenericAPIView):
    """Scheduled orders of your accounts; create one (Trader)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.add_scheduledorder"}

    @extend_schema(responses=ss.ScheduledOrderOutput(many=True))
    def get(self, request):
        page = self.paginate_queryset(_scheduled_orders(request))
        return self.get_paginated_response(ss.ScheduledOrderOutput(page, many=True).data)

    @extend_schema(request=ss.ScheduledOrderInput, responses={201: ss.ScheduledOrderOutput})
    def post(self, request):
        data = ss.ScheduledOrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = _schedule_values(request, data.validated_data)
        account = values.pop("account")
        schedule = schedules.scheduled_order_create(actor=request.user, account=account, via=VIA, **values)
        return Response(ss.ScheduledOrderOutput(schedule).data, status=status.HTTP_201_CREATED)


class ScheduledOrderDetailApi(APIView):
    """One scheduled order; PATCH changes it (Trader); DELETE removes one that never fired (Admin)."""

    permission_classes = [DeskPermission]
    write_perms = {"PATCH": "orders.change_scheduledorder", "DELETE": "orders.delete_scheduledorder"}

    @extend_schema(responses=ss.ScheduledOrderOutput)
    def get(self, request, pk: int):
        return Response(ss.ScheduledOrderOutput(get_object_or_404(_scheduled_orders(request), pk=pk)).data)

    @extend_schema(request=ss.ScheduledOrderUpdateInput, responses=ss.ScheduledOrderOutput)
    def patch(self, request, pk: int):
        schedule = get_object_or_404(_scheduled_orders(request), pk=pk)
        data = ss.ScheduledOrderUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = _schedule_values(request, data.validated_data)
        schedule = schedules.scheduled_order_update(schedule=schedule, actor=request.user, via=VIA, **values)
        return Response(ss.ScheduledOrderOutput(schedule).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int):
        schedule = get_object_or_404(_scheduled_orders(request), pk=pk)
        schedules.scheduled_order_delete(schedule=schedule, actor=request.user, via=VIA)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScheduledOrderEnableApi(APIView):
    """Enable a scheduled order (Trader): it fires again from its next occurrence."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.change_scheduledorder"}

    @extend_schema(request=None, responses=ss.ScheduledOrderOutput)
    def post(self, request, pk: int):
        schedule = get_object_or_404(_scheduled_orders(request), pk=pk)
        schedule = schedule_firing.scheduled_order_resume(schedule=schedule, actor=request.user, via=VIA)
        return Response(ss.ScheduledOrderOutput(schedule).data)


class ScheduledOrderDisableApi(APIView):
    """Disable a scheduled order (Trader); an order it made that is not yet due is cancelled."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "orders.change_scheduledorder"}

    @extend_schema(request=None, responses=ss.ScheduledOrderOutput)
    def post(self, request, pk: int):
        schedule = get_object_or_404(_scheduled_orders(request), pk=pk)
        schedule = schedule_firing.scheduled_order_pause(schedule=schedule, actor=request.user, via=VIA)
        return Response(ss.ScheduledOrderOutput(schedule).data)


class ScheduledOrderNextFiringsApi(APIView):
    """The next five instants (UTC) a scheduled order would fire, holidays and early closes left out."""

    permission_classes = [IsDeskMember]

    @extend_schema(responses=ss.NextFiringsOutput)
    def get(self, request, pk: int):
        schedule = get_object_or_404(_scheduled_orders(request), pk=pk)
        return Response(ss.NextFiringsOutput({"next_firings": scheduling.next_firings(schedule, count=5)}).data)
