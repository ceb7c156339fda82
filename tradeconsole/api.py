"""The versioned REST API: /api/v1/ with each app's endpoints, health, the OpenAPI schema and its docs.

Included by ``tradeconsole.urls`` under the namespace ``api-v1``. The Swagger UI's assets come
from drf-spectacular-sidecar, served by this server: the docs page loads nothing from the internet.
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import JsonResponse
from django.urls import include, path, re_path, reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import IsDeskMember
from marketdata.topics.asyncapi import AsyncApiDocumentApi
from tradeconsole import health_checks
from tradeconsole.exceptions import PROBLEM_CONTENT_TYPE

app_name = "api-v1"


class HealthApi(APIView):
    """Whether the desk's database and Redis answer (signed-in callers; ``/health/ready`` is the probe,
    ``/health/detailed`` the whole desk)."""

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
        checks = {"database": health_checks.database_check(), "redis": health_checks.redis_check()}
        healthy = all(check["ok"] for check in checks.values())
        return Response({"status": "ok" if healthy else "unavailable", "checks": checks})


class SwaggerPage(SpectacularSwaggerView):
    """The Swagger UI: a page for people, so one who is not signed in is sent to sign in first."""

    def handle_exception(self, exc):
        if isinstance(exc, NotAuthenticated | AuthenticationFailed) and not self.request.user.is_authenticated:
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        return super().handle_exception(exc)


@csrf_exempt
def api_not_found(request, unmatched: str = ""):
    """Answer any path under /api/v1/ that names no endpoint as a problem, like every API error."""
    body = {
        "type": "urn:tradeconsole:error:not_found",
        "title": "Not found",
        "status": 404,
        "code": "not_found",
        "detail": "No such endpoint.",
    }
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)


urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("orders.api.flatten")),
    path("", include("strategies.api.urls")),
    path("", include("strategies.api.urls_backtests")),
    path("", include("marketdata.api.urls")),
    path("health/", HealthApi.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[IsDeskMember]), name="schema"),
    # The WebSocket market topics, described as AsyncAPI 3.0 (OpenAPI has no words for them).
    path("asyncapi.json", AsyncApiDocumentApi.as_view(), name="asyncapi"),
    path(
        "docs/",
        SwaggerPage.as_view(url_name="api-v1:schema", permission_classes=[IsDeskMember]),
        name="docs",
    ),
    # Last: a path matching no endpoint (a malformed id, a typo) is a problem+json 404 too.
    re_path(r"^(?P<unmatched>[\s\S]*)$", api_not_found),
]
