"""CSV exports of orders, fills and positions: the JSON lists' rows, scoped and filtered the same
(the same selectors and filter parameters), streamed a chunk at a time, without pagination."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from accounts.api.params import query_params
from accounts.api.permissions import IsDeskMember
from orders import selectors
from orders.api import serializers as s
from orders.exports import FILL_COLUMNS, ORDER_COLUMNS, POSITION_COLUMNS
from tradeconsole.csv_export import csv_response, export_filename
from tradeconsole.csv_renderer import export_renderers

CSV_RESPONSE = {(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="UTF-8 CSV, times in UTC")}


class OrderExportApi(APIView):
    """Orders of your accounts as CSV, newest first (the filters of the order list)."""

    permission_classes = [IsDeskMember]
    renderer_classes = export_renderers()

    @extend_schema(parameters=[s.OrderFilter], responses=CSV_RESPONSE)
    def get(self, request):
        filters = query_params(s.OrderFilter, request)
        rows = selectors.order_list(user=request.user, filters=filters)
        return csv_response(rows, ORDER_COLUMNS, filename=export_filename("orders"), request=request)


class FillExportApi(APIView):
    """Executions on your accounts as CSV, newest first (the filters of the fill list)."""

    permission_classes = [IsDeskMember]
    renderer_classes = export_renderers()

    @extend_schema(parameters=[s.FillFilter], responses=CSV_RESPONSE)
    def get(self, request):
        rows = selectors.fill_list(user=request.user, **query_params(s.FillFilter, request))
        return csv_response(rows, FILL_COLUMNS, filename=export_filename("fills"), request=request)


class PositionExportApi(APIView):
    """Positions of your accounts as CSV (the filters of the position list)."""

    permission_classes = [IsDeskMember]
    renderer_classes = export_renderers()

    @extend_schema(parameters=[s.PositionFilter], responses=CSV_RESPONSE)
    def get(self, request):
        rows = selectors.position_list(user=request.user, **query_params(s.PositionFilter, request))
        return csv_response(rows, POSITION_COLUMNS, filename=export_filename("positions"), request=request)
