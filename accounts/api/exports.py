"""The audit log as CSV (the API has no JSON list of it): the entries the admin shows the caller,
narrowed by account, action, origin and time, streamed a chunk at a time."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.api.params import query_params
from accounts.api.permissions import IsDeskMember
from accounts.exports import AUDIT_COLUMNS, audit_entries_for_user, name_entries
from tradeconsole.csv_export import csv_response, export_filename
from tradeconsole.csv_renderer import export_renderers


class AuditLogFilter(serializers.Serializer):
    account = serializers.CharField(required=False, allow_blank=True, max_length=32, help_text="Account code")
    action = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="e.g. order.submit")
    object_type = serializers.CharField(required=False, allow_blank=True, max_length=64, help_text="e.g. orders.order")
    via = serializers.CharField(required=False, allow_blank=True, max_length=16, help_text="admin, api, task, …")
    since = serializers.DateTimeField(required=False, help_text="From this instant, inclusive")
    until = serializers.DateTimeField(required=False, help_text="To this instant, inclusive")


class AuditLogExportApi(APIView):
    """Audit entries of your accounts as CSV, newest first (desk-wide ones too if you may engage the kill switch)."""

    permission_classes = [IsDeskMember]
    renderer_classes = export_renderers()

    @extend_schema(
        parameters=[AuditLogFilter],
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="UTF-8 CSV, times in UTC")},
    )
    def get(self, request):
        params = query_params(AuditLogFilter, request)
        rows = audit_entries_for_user(request.user).select_related("actor", "account").order_by("-created_at", "-id")
        for field in ("action", "object_type", "via"):
            if params.get(field):
                rows = rows.filter(**{field: params[field]})
        if params.get("account"):
            rows = rows.filter(account__code=params["account"])
        if params.get("since"):
            rows = rows.filter(created_at__gte=params["since"])
        if params.get("until"):
            rows = rows.filter(created_at__lte=params["until"])
        return csv_response(
            rows, AUDIT_COLUMNS, filename=export_filename("audit-log"), request=request, per_chunk=name_entries
        )
