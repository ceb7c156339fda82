"""The account detail of the API: one account with the broker's latest values and its open positions.

Served here rather than by ``accounts.api``: positions are rows of this app, and accounts
imports no other app. The URL (``accounts/<code>/``) and the body are those of the account API.
"""

from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema_field
from rest_framework import generics, serializers

from accounts import selectors
from accounts.api.permissions import IsDeskMember
from accounts.api.serializers import AccountOutput, AccountValueOutput
from orders.models import Position


class AccountPositionOutput(serializers.Serializer):
    symbol = serializers.CharField(source="instrument.symbol")
    quantity = serializers.DecimalField(max_digits=18, decimal_places=4)
    average_cost = serializers.DecimalField(max_digits=18, decimal_places=6)
    realized_pnl = serializers.DecimalField(max_digits=20, decimal_places=4)
    last_price = serializers.DecimalField(
        source="instrument.last_price", max_digits=18, decimal_places=6, allow_null=True
    )


class AccountDetailOutput(AccountOutput):
    values = AccountValueOutput(many=True, read_only=True)
    positions = serializers.SerializerMethodField()

    class Meta(AccountOutput.Meta):
        fields = [*AccountOutput.Meta.fields, "values", "positions"]

    @staticmethod
    def _open_positions(account):
        return [position for position in account.positions.all() if position.quantity != 0]

    @extend_schema_field(AccountPositionOutput(many=True))
    def get_positions(self, account) -> list[dict]:
        return AccountPositionOutput(self._open_positions(account), many=True).data


class AccountDetailApi(generics.RetrieveAPIView):
    """One account with the broker's latest values and its open positions."""

    permission_classes = [IsDeskMember]
    serializer_class = AccountDetailOutput
    lookup_field = "code"

    def get_queryset(self):
        positions = Position.objects.select_related("instrument").order_by("instrument__symbol")
        return (
            selectors.accounts_for_user(self.request.user)
            .select_related("halted_by")
            .prefetch_related("values", Prefetch("positions", queryset=positions))
        )
