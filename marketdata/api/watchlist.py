"""The caller's own watchlist: list it, add a symbol (the broker's contract makes an instrument the
desk does not know yet), put it in a new order, take a symbol off."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from marketdata import services
from marketdata.api import serializers as s
from marketdata.api.permissions import CanViewMarketData
from marketdata.models import WatchlistEntry
from tradeconsole.api_schema import ProblemSerializer
from tradeconsole.exceptions import PROBLEM_CONTENT_TYPE

VIA = "api"
TAG = ["watchlist"]
_PROBLEM_503 = {(503, PROBLEM_CONTENT_TYPE): ProblemSerializer}


def _entries(user):
    return WatchlistEntry.objects.filter(user=user).select_related("instrument").order_by("position", "id")


class WatchlistApi(APIView):
    """Your watchlist in your order; POST adds a symbol, PUT puts the whole list in a new order."""

    permission_classes = [CanViewMarketData]

    @extend_schema(tags=TAG, responses=s.WatchlistEntryOutput(many=True))
    def get(self, request):
        return Response(s.WatchlistEntryOutput(_entries(request.user), many=True).data)

    @extend_schema(
        tags=TAG,
        request=s.WatchlistAddInput,
        responses={201: s.WatchlistEntryOutput, 200: s.WatchlistEntryOutput, **_PROBLEM_503},
        description=(
            "Adds the symbol last (200 with the entry when it is already there). A symbol the desk has no "
            "instrument of is looked up at the broker and the instrument created from its contract details; "
            "404 marketdata.unknown_symbol when the broker knows none, 503 marketdata.broker_unavailable "
            "when the broker does not answer."
        ),
    )
    def post(self, request):
        data = s.WatchlistAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry, created = services.watchlist_add(user=request.user, symbol=data.validated_data["symbol"], via=VIA)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(s.WatchlistEntryOutput(entry).data, status=code)

    @extend_schema(tags=TAG, request=s.WatchlistReorderInput, responses=s.WatchlistEntryOutput(many=True))
    def put(self, request):
        data = s.WatchlistReorderInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.watchlist_reorder(user=request.user, symbols=data.validated_data["symbols"], via=VIA)
        return Response(s.WatchlistEntryOutput(_entries(request.user), many=True).data)


class WatchlistSymbolApi(APIView):
    """Take a symbol off your watchlist."""

    permission_classes = [CanViewMarketData]

    @extend_schema(tags=TAG, request=None, responses={204: None})
    def delete(self, request, symbol: str):
        services.watchlist_remove(user=request.user, symbol=symbol, via=VIA)
        return Response(status=status.HTTP_204_NO_CONTENT)
