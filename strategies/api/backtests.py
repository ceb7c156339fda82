"""API of backtests: request one (Trader), list and read them with their progress and results, cancel one."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import DeskPermission
from marketdata import resolutions
from strategies.models import Backtest
from strategies.selectors import strategy_version_list
from strategies.selectors_backtests import backtest_list
from strategies.services.backtests import CANCEL_PERM, MAX_SYMBOLS, REQUEST_PERM, backtest_cancel, backtest_request

VIA = "api"
TAG = ["backtests"]


class BacktestInput(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, help_text="The strategy version's id (pinned by the backtest)"
    )
    symbols = serializers.ListField(child=serializers.CharField(max_length=32), min_length=1, max_length=MAX_SYMBOLS)
    resolution = serializers.ChoiceField(choices=resolutions.CHOICES)
    start = serializers.DateTimeField(help_text="First bar's start (inclusive), with its time zone")
    end = serializers.DateTimeField(help_text="Bars starting before this instant")
    starting_cash = serializers.DecimalField(max_digits=20, decimal_places=4)
    fee_model = serializers.ChoiceField(choices=Backtest.FeeModel.choices, default=Backtest.FeeModel.FIXED)
    slippage_model = serializers.ChoiceField(choices=Backtest.Slippage.choices, default=Backtest.Slippage.NONE)
    slippage_amount = serializers.DecimalField(max_digits=10, decimal_places=4, default=0, min_value=0)


class BacktestOutput(serializers.ModelSerializer):
    strategy = serializers.CharField(source="version.strategy.name", read_only=True)
    version_number = serializers.IntegerField(source="version.number", read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", default=None, read_only=True)
    metrics = serializers.JSONField(read_only=True, help_text="The metrics once done ({} before)")

    class Meta:
        model = Backtest
        fields = [
            "id", "version", "strategy", "version_number", "symbols", "resolution", "start", "end",
            "starting_cash", "fee_model", "slippage_model", "slippage_amount", "status", "progress",
            "metrics", "error_code", "error", "requested_by", "created_at", "started_at", "finished_at",
        ]  # fmt: skip


class BacktestDetailOutput(BacktestOutput):
    results = serializers.JSONField(
        read_only=True, help_text="trades, open_trades, equity_curve {time, equity} and metrics; null until done"
    )

    class Meta(BacktestOutput.Meta):
        fields = [*BacktestOutput.Meta.fields, "results"]


class BacktestListApi(generics.ListAPIView):
    """Backtests of the strategies you see, newest first (no results here: read one for them); POST queues one."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": REQUEST_PERM}
    serializer_class = BacktestOutput

    def get_queryset(self):
        return backtest_list(user=self.request.user, status=self.request.query_params.get("status") or None).defer(
            "results"
        )

    @extend_schema(tags=TAG)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAG,
        request=BacktestInput,
        responses={201: BacktestOutput},
        summary="Queue a backtest of a strategy version",
        description=(
            "Runs as a Celery task over the bars stored in PostgreSQL: poll the backtest for `status` "
            "(queued, running, done, failed, cancelled) and `progress` (0-100). Fees: IB's `fixed` or "
            "`tiered` US stock commissions, or `none`; slippage in `ticks` (of 0.01) or `bps`, against the trader."
        ),
    )
    def post(self, request):
        data = BacktestInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        version = get_object_or_404(strategy_version_list(user=request.user), pk=fields.pop("version"))
        backtest = backtest_request(actor=request.user, version=version, via=VIA, **fields)
        return Response(BacktestOutput(backtest).data, status=status.HTTP_201_CREATED)


def _backtest(request, pk: int) -> Backtest:
    return get_object_or_404(backtest_list(user=request.user), pk=pk)


class BacktestDetailApi(APIView):
    """One backtest with its results (trades, equity curve, metrics) once done."""

    permission_classes = [DeskPermission]

    @extend_schema(tags=TAG, responses=BacktestDetailOutput)
    def get(self, request, pk: int):
        return Response(BacktestDetailOutput(_backtest(request, pk)).data)


class BacktestCancelApi(APIView):
    """Cancel a queued or running backtest (409 ``backtest.not_cancellable`` once it has finished)."""

    permission_classes = [DeskPermission]
    write_perms = {"POST": CANCEL_PERM}

    @extend_schema(tags=TAG, request=None, responses=BacktestOutput, summary="Cancel a backtest")
    def post(self, request, pk: int):
        backtest = backtest_cancel(actor=request.user, backtest=_backtest(request, pk), via=VIA)
        return Response(BacktestOutput(backtest).data)
