"""API of what a trading session left behind: its equity curve, its decisions (and why) and its forward-test fills.

Each reads a session on the caller's accounts (404 otherwise), as the session endpoints do.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.params import query_params
from accounts.api.permissions import IsDeskMember
from strategies.models import SessionDecision, SessionFill, TradingSession
from strategies.selectors import trading_session_list
from strategies.selectors_sessions import (
    CURVE_POINTS,
    session_decision_list,
    session_equity_curve,
    session_fill_list,
)


class EquityFilter(serializers.Serializer):
    since = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**53,
        help_text="Only the bars that start after this instant (epoch seconds): the last `time` you hold",
    )


class EquityPointOutput(serializers.Serializer):
    time = serializers.IntegerField(help_text="The bar's start, epoch seconds UTC")
    equity = serializers.DecimalField(max_digits=20, decimal_places=4, help_text="Equity after the bar closed")


class SessionDecisionOutput(serializers.ModelSerializer):
    order = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True, help_text="The order placed, if any")
    client_order_id = serializers.UUIDField(source="order.client_order_id", default=None, read_only=True)
    values = serializers.JSONField(read_only=True, help_text="The node values that decided, by node id and port")

    class Meta:
        model = SessionDecision
        fields = [
            "id", "bar_time", "action", "node", "outcome", "quantity", "price", "order", "client_order_id",
            "values", "error_code", "message", "decided_at",
        ]  # fmt: skip


class SessionFillOutput(serializers.ModelSerializer):
    class Meta:
        model = SessionFill
        fields = ["id", "time", "side", "quantity", "price", "fee", "reason", "decision"]


def _session(request, pk: int) -> TradingSession:
    return get_object_or_404(trading_session_list(user=request.user), pk=pk)


class TradingSessionEquityApi(APIView):
    """The session's equity curve: one point a closed bar, oldest first."""

    permission_classes = [IsDeskMember]

    @extend_schema(
        parameters=[EquityFilter],
        responses=EquityPointOutput(many=True),
        summary="A session's equity curve",
        description=(
            f"At most {CURVE_POINTS:,} points a call, the oldest after `since`: call again with `since` set "
            "to the last `time` returned to read on, and to follow a running session."
        ),
    )
    def get(self, request, pk: int):
        since = query_params(EquityFilter, request).get("since")
        curve = session_equity_curve(session=_session(request, pk), since=since)
        return Response(EquityPointOutput([{"time": t, "equity": e} for t, e in curve], many=True).data)


class TradingSessionDecisionListApi(generics.ListAPIView):
    """The bars on which the session's strategy acted, newest first: outcome, order and the values that decided."""

    permission_classes = [IsDeskMember]
    serializer_class = SessionDecisionOutput

    def get_queryset(self):
        return session_decision_list(session=_session(self.request, self.kwargs["pk"]))


class TradingSessionFillListApi(generics.ListAPIView):
    """A forward test's simulated fills, newest first (a broker session's fills are its orders')."""

    permission_classes = [IsDeskMember]
    serializer_class = SessionFillOutput

    def get_queryset(self):
        return session_fill_list(session=_session(self.request, self.kwargs["pk"]))
