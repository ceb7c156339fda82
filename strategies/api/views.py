"""API views of strategies and trading sessions (open one; start, pause, resume, stop)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors as account_selectors
from accounts.api.params import query_params
from accounts.api.permissions import DeskPermission, IsDeskMember
from accounts.exceptions import AccountNotMember
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


class TradingSessionInput(serializers.Serializer):
    """A new session. Only the types are checked here: the service checks the values, and refuses
    with ``trading_session.invalid`` naming the ``field`` (or ``trading_session.version_not_approved``)."""

    account = serializers.CharField(max_length=32, help_text="The IB account code")
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="The strategy version's id: the session runs it, pinned"
    )
    symbol = serializers.CharField(max_length=32, help_text="The instrument it trades, as order entry names it")
    mode = serializers.CharField(
        required=False,
        default=TradingSession.Mode.FORWARD,
        help_text="forward (paper, filled by the runner) or broker (orders through the desk; an approved version)",
    )
    resolution = serializers.CharField(required=False, default="1", help_text="Bar size: 1, 5, 15, 60 or 1D")
    fee_model = serializers.CharField(required=False, default="fixed", help_text="fixed, tiered or none (IB's)")
    slippage_model = serializers.CharField(required=False, default="none", help_text="none, ticks or bps")
    slippage_amount = serializers.CharField(required=False, default="0", help_text="Ticks or basis points, ≥ 0")
    max_position = serializers.CharField(
        required=False, allow_null=True, default=None, help_text="Most shares held, long or short; null: no limit"
    )
    max_daily_loss = serializers.CharField(
        required=False, allow_null=True, default=None, help_text="Pause when today's loss reaches this; null: none"
    )
    starting_equity = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        help_text="A forward test's paper cash (required); a broker session: null starts from net liquidation",
    )


class TradingSessionListApi(generics.ListAPIView):
    """Trading sessions on your accounts, newest first; POST opens one (pending)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": "strategies.add_tradingsession"}
    serializer_class = TradingSessionOutput

    @extend_schema(parameters=[TradingSessionFilter])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=TradingSessionInput,
        responses={201: TradingSessionOutput},
        summary="Open a trading session (pending; start it with /start/)",
    )
    def post(self, request):
        data = TradingSessionInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        account = account_selectors.account_for_member(request.user, fields.pop("account"))
        if account is None:
            raise AccountNotMember("You are not a member of this account.", field="account")
        version = get_object_or_404(selectors.strategy_version_list(user=request.user), pk=fields.pop("version"))
        session = services.trading_session_create(
            strategy=version.strategy,
            account=account,
            actor=request.user,
            version=version,
            instrument=fields.pop("symbol"),
            via=VIA,
            **fields,
        )
        return Response(TradingSessionOutput(session).data, status=status.HTTP_201_CREATED)

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


def _control_view(name: str, service, summary: str, body: type[serializers.Serializer] | None = None):
    """Return the view that moves a trading session with ``service`` (Trader), given ``body``'s fields."""

    class TradingSessionControlApi(APIView):
        permission_classes = [DeskPermission]
        write_perms = {"POST": "strategies.change_tradingsession"}

        @extend_schema(request=body, responses=TradingSessionOutput, summary=summary)
        def post(self, request, pk: int):
            session = get_object_or_404(selectors.trading_session_list(user=request.user), pk=pk)
            fields = {}
            if body is not None:
                data = body(data=request.data)
                data.is_valid(raise_exception=True)
                fields = data.validated_data
            return Response(TradingSessionOutput(service(session=session, actor=request.user, via=VIA, **fields)).data)

    TradingSessionControlApi.__name__ = TradingSessionControlApi.__qualname__ = f"TradingSession{name}Api"
    TradingSessionControlApi.__doc__ = summary
    return TradingSessionControlApi


class TradingSessionPauseInput(serializers.Serializer):
    reason = serializers.CharField(
        required=False, default="", allow_blank=True, trim_whitespace=False, help_text="Why (at most 200 characters)"
    )


class TradingSessionStopInput(TradingSessionPauseInput):
    flatten = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Close the position: a broker session's working orders are cancelled and a market order closes "
        "its net position (a refusal is noted in status_reason and raised as an alert; the session stops anyway); "
        "a forward test's simulated position is closed by the runner at the last quote",
    )


TradingSessionStartApi = _control_view("Start", services.trading_session_start, "Start a pending session.")
TradingSessionPauseApi = _control_view(
    "Pause", services.trading_session_pause, "Pause a running session.", TradingSessionPauseInput
)
TradingSessionResumeApi = _control_view("Resume", services.trading_session_resume, "Resume a paused session.")
TradingSessionStopApi = _control_view(
    "Stop", services.trading_session_stop, "Stop a session for good, optionally flattening it.", TradingSessionStopInput
)
