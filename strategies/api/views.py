"""API views of strategies and trading sessions (start, pause, resume, stop)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.api.params import query_params
from accounts.api.permissions import DeskPermission, IsDeskMember
from strategies import selectors, services
from strategies.api.serializers import StrategyOutput, TradingSessionFilter, TradingSessionOutput
from strategies.models import TradingSession

VIA = "api"


class StrategyListApi(generics.ListAPIView):
    """Strategies that may trade your accounts."""

    permission_classes = [IsDeskMember]
    serializer_class = StrategyOutput

    def get_queryset(self):
        return selectors.strategy_list(user=self.request.user).prefetch_related("accounts").order_by("name")


class StrategyDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsDeskMember]
    serializer_class = StrategyOutput

    def get_queryset(self):
        return selectors.strategy_list(user=self.request.user).prefetch_related("accounts")


class TradingSessionListApi(generics.ListAPIView):
    """Trading sessions on your accounts, newest first."""

    permission_classes = [IsDeskMember]
    serializer_class = TradingSessionOutput

    @extend_schema(parameters=[TradingSessionFilter])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        params = query_params(TradingSessionFilter, self.request)
        account = None
        if params.get("account"):
            account = account_selectors.account_for_member(self.request.user, params["account"])
            if account is None:
                return TradingSession.objects.none()
        return selectors.trading_session_list(
            user=self.request.user, status=sorted(params.get("status") or []), account=account
        )


class TradingSessionDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsDeskMember]
    serializer_class = TradingSessionOutput

    def get_queryset(self):
        return selectors.trading_session_list(user=self.request.user)


def _control_view(name: str, service, summary: str):
    """Return the view that moves a trading session with ``service`` (Trader)."""

    class TradingSessionControlApi(APIView):
        permission_classes = [DeskPermission]
        write_perms = {"POST": "strategies.change_tradingsession"}

        @extend_schema(request=None, responses=TradingSessionOutput, summary=summary)
        def post(self, request, pk: int):
            session = get_object_or_404(selectors.trading_session_list(user=request.user), pk=pk)
            return Response(TradingSessionOutput(service(session=session, actor=request.user, via=VIA)).data)

    TradingSessionControlApi.__name__ = TradingSessionControlApi.__qualname__ = f"TradingSession{name}Api"
    TradingSessionControlApi.__doc__ = summary
    return TradingSessionControlApi


TradingSessionStartApi = _control_view("Start", services.trading_session_start, "Start a pending session.")
TradingSessionPauseApi = _control_view("Pause", services.trading_session_pause, "Pause a running session.")
TradingSessionResumeApi = _control_view("Resume", services.trading_session_resume, "Resume a paused session.")
TradingSessionStopApi = _control_view("Stop", services.trading_session_stop, "Stop a session for good.")
