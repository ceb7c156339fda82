"""The datafeed, compatible with TradingView's UDF protocol: config, time, symbols, search, history,
marks and quotes under /api/v1/datafeed/. Each view validates its query, calls one selector, answers.

Every refusal is HTTP 400 ``{"s": "error", "errmsg": …, "code": …}`` as UDF expects; only the
gates before the view (401, 403, 406) answer as the rest of the API does (problem+json).
"""

from __future__ import annotations

import time

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import BaseRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from marketdata import resolutions, search, selectors
from marketdata.api import params as p
from marketdata.api import serializers as s
from marketdata.api.permissions import CanViewMarketData
from tradeconsole.exceptions import ApplicationError

TAG = ["datafeed"]


class PlainTextRenderer(BaseRenderer):
    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return str(data).encode(self.charset)


def _refusal(exc: ApplicationError) -> Response:
    return Response({"s": "error", "errmsg": exc.message, "code": exc.code}, status=400)


class DatafeedApi(APIView):
    """The datafeed's gate and its refusals: a market-data refusal is UDF's error, never problem+json."""

    permission_classes = [CanViewMarketData]

    def handle_exception(self, exc):
        if isinstance(exc, ApplicationError) and exc.code.startswith("marketdata."):
            return _refusal(exc)
        return super().handle_exception(exc)


def _documented(ok, parameters=None, **more):
    return extend_schema(tags=TAG, parameters=parameters, responses={200: ok, 400: s.DatafeedError}, **more)


class DatafeedConfigApi(DatafeedApi):
    """What the datafeed supports: resolutions, search, marks, server time, the desk's exchanges."""

    @_documented(s.DatafeedConfig)
    def get(self, request):
        exchanges = [{"value": "", "name": "All exchanges", "desc": ""}]
        exchanges += [{"value": name, "name": name, "desc": name} for name in selectors.desk_exchanges()]
        return Response(
            {
                "supported_resolutions": [r.code for r in resolutions.ALL],
                "supports_group_request": False,
                "supports_marks": True,
                "supports_search": True,
                "supports_timescale_marks": False,
                "supports_time": True,
                "exchanges": exchanges,
                "symbols_types": [{"name": "All types", "value": ""}, {"name": "Stock", "value": "stock"}],
            }
        )


class DatafeedTimeApi(DatafeedApi):
    """The server's clock, whole seconds since the epoch, as plain text."""

    renderer_classes = [PlainTextRenderer]

    @extend_schema(tags=TAG, responses={(200, "text/plain"): OpenApiTypes.STR})
    def get(self, request):
        return Response(int(time.time()))


class DatafeedSymbolApi(DatafeedApi):
    """One symbol's UDF symbol info (session, time zone, price scale, resolutions)."""

    @_documented(s.DatafeedSymbolInfo, [p.SymbolParams])
    def get(self, request):
        query = p.datafeed_params(p.SymbolParams, request)
        return Response(selectors.symbol_info(selectors.instrument_for_symbol(query["symbol"])))


class DatafeedSearchApi(DatafeedApi):
    """Symbols matching a query: the desk's instruments, then the broker's matches (skipped when the
    broker does not answer within a second)."""

    @_documented(s.DatafeedSearchResult(many=True), [p.SearchParams])
    def get(self, request):
        query = p.datafeed_params(p.SearchParams, request)
        return Response(search.symbol_search(**query))


class DatafeedHistoryApi(DatafeedApi):
    """Bars of a symbol and resolution starting in [from, to), or the last ``countback`` before ``to``;
    the bar still forming is included when ``to`` reaches it."""

    @_documented(s.DatafeedHistory, [p.HistoryParams])
    def get(self, request):
        query = p.datafeed_params(p.HistoryParams, request)
        instrument = selectors.instrument_for_symbol(query["symbol"])
        history = selectors.bar_history(
            instrument=instrument,
            resolution=query["resolution"],
            start=query.get("from"),
            end=query["to"],
            countback=query.get("countback"),
        )
        # JSON text written by PostgreSQL: passed through, not parsed and rendered again.
        return HttpResponse(history, content_type="application/json")


class DatafeedMarksApi(DatafeedApi):
    """The desk's own fills of a symbol in your accounts, executed in [from, to), as chart marks."""

    @_documented(s.DatafeedMark(many=True), [p.MarksParams])
    def get(self, request):
        query = p.datafeed_params(p.MarksParams, request)
        instrument = selectors.instrument_for_symbol(query["symbol"])
        return Response(
            selectors.fill_marks(user=request.user, instrument=instrument, start=query["from"], end=query["to"])
        )


class DatafeedQuotesApi(DatafeedApi):
    """The latest quotes of up to 100 symbols, from the tick streams."""

    @_documented(s.DatafeedQuotes, [p.QuotesParams])
    def get(self, request):
        query = p.datafeed_params(p.QuotesParams, request)
        return Response({"s": "ok", "d": selectors.quotes(query["symbols"])})
