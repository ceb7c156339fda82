"""The OpenAPI schema's conventions: every operation documents its problem+json error answers."""

from __future__ import annotations

from drf_spectacular.authentication import BasicScheme
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers

from tradeconsole.exceptions import PROBLEM_CONTENT_TYPE


class ProblemSerializer(serializers.Serializer):
    """An error, as RFC 9457 ``application/problem+json`` with the desk's stable ``code``."""

    type = serializers.CharField(help_text="urn:tradeconsole:error:<code>")
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField(help_text="Stable code to branch on, such as risk.max_notional")
    detail = serializers.JSONField(help_text="A sentence for people (or DRF's detail)")
    field = serializers.CharField(required=False, help_text="The input that was wrong, when there is one")
    errors = serializers.JSONField(required=False, help_text="Field → messages, for invalid input")


# The answers any operation may give besides its success; read-only operations cannot conflict.
ERROR_STATUSES = {
    "GET": ("400", "401", "403", "404", "406", "429"),
    "HEAD": ("400", "401", "403", "404", "406", "429"),
    "DEFAULT": ("400", "401", "403", "404", "405", "406", "409", "415", "422", "429"),
}


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's schema plus a problem+json response for every error status an operation may give."""

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        problem = self._get_response_for_code(ProblemSerializer, "400", [PROBLEM_CONTENT_TYPE], direction)
        for status in ERROR_STATUSES.get(self.method, ERROR_STATUSES["DEFAULT"]):
            if status not in responses:
                responses[status] = {**problem, "description": "Problem (application/problem+json)"}
        return responses


class DeskTokenScheme(KnoxTokenScheme):
    """The desk's knox authentication (``accounts.api.authentication``) is documented as knox's own."""

    target_class = "accounts.api.authentication.TokenAuthentication"


class DeskBasicScheme(BasicScheme):
    """The token endpoint's HTTP Basic, under the sign-in lockout, is documented as HTTP Basic."""

    target_class = "accounts.api.authentication.BasicAuthentication"
