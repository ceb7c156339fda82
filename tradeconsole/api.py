"""The versioned REST API: /api/v1/ with each app's endpoints, health, the OpenAPI schema and its docs.

Included by ``tradeconsole.urls`` under the namespace ``api-v1``. The Swagger UI's assets come
from drf-spectacular-sidecar, served by this server: the docs page loads nothing from the internet.
"""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import IsDeskMember
from tradeconsole import health

app_name = "api-v1"


class HealthApi(APIView):
    """Whether the desk's database and Redis answer (signed-in callers; ``/health/ready`` is the probe)."""

    permission_classes = [IsDeskMember]

    @extend_schema(
        responses=inline_serializer(
            "Health",
            {
                "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
                "checks": serializers.DictField(child=serializers.DictField()),
            },
        )
    )
    def get(self, request):
        checks = {"database": health._check_database(), "redis": health._check_redis()}
        healthy = all(check["ok"] for check in checks.values())
        return Response({"status": "ok" if healthy else "unavailable", "checks": checks})


urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("strategies.api.urls")),
    path("health/", HealthApi.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsDeskMember]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api-v1:schema", permission_classes=[IsDeskMember]),
        name="docs",
    ),
]
