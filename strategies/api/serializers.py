"""Serializers of the strategies API."""

from __future__ import annotations

from rest_framework import serializers

from strategies.models import Strategy, TradingSession


class StrategyOutput(serializers.ModelSerializer):
    accounts = serializers.SlugRelatedField(slug_field="code", many=True, read_only=True)

    class Meta:
        model = Strategy
        fields = ["id", "name", "description", "parameters", "accounts", "enabled", "created_at"]


class TradingSessionOutput(serializers.ModelSerializer):
    strategy = serializers.SlugRelatedField(slug_field="name", read_only=True)
    account = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = TradingSession
        fields = [
            "id",
            "strategy",
            "account",
            "status",
            "started_at",
            "stopped_at",
            "starting_equity",
            "realized_pnl",
            "unrealized_pnl",
            "max_drawdown",
            "peak_pnl",
            "trade_count",
            "win_count",
            "created_at",
        ]


class TradingSessionFilter(serializers.Serializer):
    status = serializers.MultipleChoiceField(choices=TradingSession.Status.choices, required=False)
    account = serializers.CharField(required=False, allow_blank=True, max_length=32)
