"""Serializers of the accounts API: accounts with their live values, the kill switch, alerts, tokens."""

from __future__ import annotations

from knox.models import AuthToken
from rest_framework import serializers

from accounts.models import Alert, BrokerAccount, KillSwitch
from tradeconsole.api_fields import StrictCharField


class AccountValueOutput(serializers.Serializer):
    tag = serializers.CharField()
    value = serializers.CharField()
    currency = serializers.CharField()
    updated_at = serializers.DateTimeField()


class AccountOutput(serializers.ModelSerializer):
    halted_by = serializers.CharField(source="halted_by.username", read_only=True, allow_null=True)

    class Meta:
        model = BrokerAccount
        fields = [
            "code",
            "name",
            "base_currency",
            "kind",
            "trading_enabled",
            "halted_reason",
            "halted_at",
            "halted_by",
        ]


class HaltInput(serializers.Serializer):
    reason = StrictCharField(max_length=255)
    cancel_working = serializers.BooleanField(default=False)


class KillSwitchOutput(serializers.ModelSerializer):
    changed_by = serializers.CharField(source="changed_by.username", read_only=True, allow_null=True)

    class Meta:
        model = KillSwitch
        fields = ["engaged", "reason", "changed_at", "changed_by"]


class KillSwitchEngageInput(serializers.Serializer):
    reason = StrictCharField(max_length=255)
    cancel_working = serializers.BooleanField(default=True)


class KillSwitchReleaseInput(serializers.Serializer):
    reason = StrictCharField(max_length=255, required=False, allow_blank=True, default="")


class AlertOutput(serializers.ModelSerializer):
    # A desk-wide alert (the kill switch, a stream fault) belongs to no account.
    account = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "key",
            "kind",
            "severity",
            "status",
            "account",
            "message",
            "data",
            "raised_at",
            "acknowledged_at",
            "acknowledged_by",
            "resolved_at",
        ]


class TokenOutput(serializers.ModelSerializer):
    class Meta:
        model = AuthToken
        fields = ["token_key", "created", "expiry"]


class TokenCreateInput(serializers.Serializer):
    ttl_hours = serializers.IntegerField(
        required=False, min_value=1, max_value=24 * 366, help_text="Lifetime in hours; default and maximum: the desk's"
    )
    otp_token = serializers.CharField(
        required=False,
        max_length=8,
        write_only=True,
        help_text="The authenticator's current code, when signing in with HTTP Basic as a user who enrolled one",
    )


class TokenCreateOutput(TokenOutput):
    token = serializers.CharField(help_text="Shown once; send it as `Authorization: Token <token>`.")

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "token"]
