"""Serializers of the strategies API."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from strategies.models import Strategy, StrategyVersion, TradingSession
from tradeconsole.api_schema import ProblemSerializer


class StrategyOutput(serializers.ModelSerializer):
    accounts = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = Strategy
        fields = ["id", "name", "description", "parameters", "accounts", "enabled", "created_at"]


class TradingSessionOutput(serializers.ModelSerializer):
    """A session with what it runs and its figures (README: "What a session's metrics mean"); all read-only."""

    strategy = serializers.SlugRelatedField(slug_field="name", read_only=True)
    account = serializers.SlugRelatedField(slug_field="code", read_only=True)
    version = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True, help_text="The pinned version's id")
    version_number = serializers.IntegerField(source="version.number", default=None, read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", default=None, read_only=True)
    equity = serializers.DecimalField(
        max_digits=20,
        decimal_places=4,
        read_only=True,
        allow_null=True,
        help_text="Starting equity + realized + unrealized",
    )
    max_drawdown = serializers.DecimalField(
        max_digits=20, decimal_places=4, read_only=True, help_text="Largest fall of the equity from a peak, in money"
    )
    win_rate = serializers.SerializerMethodField(help_text="win_count / trade_count; null without trades")
    sharpe = serializers.FloatField(
        read_only=True, allow_null=True, help_text="Annualised, from per-bar equity returns; null before two returns"
    )
    last_bar_time = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="The last bar decided: its start, epoch seconds UTC"
    )

    class Meta:
        model = TradingSession
        fields = [
            "id", "strategy", "account", "mode", "version", "version_number", "symbol", "resolution", "status",
            "status_reason", "flatten_on_stop", "fee_model", "slippage_model", "slippage_amount", "max_position",
            "max_daily_loss", "started_at", "stopped_at", "starting_equity", "equity", "realized_pnl", "unrealized_pnl",
            "max_drawdown", "peak_pnl", "trade_count", "win_count", "win_rate", "sharpe", "last_bar_time", "created_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_win_rate(self, session: TradingSession) -> float | None:
        return session.win_count / session.trade_count if session.trade_count else None


class TradingSessionFilter(serializers.Serializer):
    status = serializers.MultipleChoiceField(choices=TradingSession.Status.choices, required=False)
    account = serializers.CharField(required=False, allow_blank=True, max_length=32)


# --- strategy versions and the node catalogue -------------------------------------------------------


class StrategyVersionOutput(serializers.ModelSerializer):
    """A version without its graph (lists); ``approved`` says whether broker sessions may run it."""

    strategy = serializers.SlugRelatedField(slug_field="name", read_only=True)
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    approved = serializers.BooleanField(source="is_approved", read_only=True)

    class Meta:
        model = StrategyVersion
        fields = [
            "id",
            "strategy",
            "number",
            "graph_hash",
            "warmup",
            "author",
            "created_at",
            "approved",
            "approved_by",
            "approved_at",
        ]


class StrategyVersionDetailOutput(StrategyVersionOutput):
    """A version with its graph: the export, which a POST to the versions of a strategy imports."""

    graph = serializers.JSONField(read_only=True, help_text="The React Flow graph: nodes and edges")

    class Meta(StrategyVersionOutput.Meta):
        fields = [*StrategyVersionOutput.Meta.fields, "graph"]


class StrategyGraphInput(serializers.Serializer):
    """A strategy graph in React Flow's JSON (the node catalogue says which types, ports and parameters)."""

    nodes = serializers.ListField(child=serializers.DictField(), help_text="id, type, data.params, position {x, y}")
    edges = serializers.ListField(
        child=serializers.DictField(), required=False, help_text="source, sourceHandle, target, targetHandle"
    )
    viewport = serializers.DictField(required=False)


class GraphProblemOutput(serializers.Serializer):
    code = serializers.CharField(help_text="Stable code, such as graph.cycle or port.type_mismatch")
    message = serializers.CharField()
    node = serializers.CharField(allow_null=True, help_text="The node the problem concerns, if one")
    port = serializers.CharField(allow_null=True, help_text="The port or parameter it concerns, if one")


class GraphRefusedOutput(ProblemSerializer):
    """The problem answered for a refused graph (code graph.refused): every problem the compiler found."""

    problems = GraphProblemOutput(many=True, required=False)


class NodePortOutput(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(help_text="number_series, bool_series, scalar or signal")
    required = serializers.BooleanField(required=False)
    role = serializers.CharField(required=False)


class NodeParamOutput(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(help_text="int, float, bool or choice")
    default = serializers.JSONField()
    min = serializers.JSONField(required=False)
    max = serializers.JSONField(required=False)
    choices = serializers.ListField(child=serializers.CharField(), required=False)
    description = serializers.CharField(required=False)


class NodeTypeOutput(serializers.Serializer):
    """One node type of the catalogue: its typed ports and bounded parameters."""

    type = serializers.CharField()
    category = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    inputs = NodePortOutput(many=True)
    outputs = NodePortOutput(many=True)
    params = NodeParamOutput(many=True)
