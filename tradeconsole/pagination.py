"""How API lists are paged and what OPTIONS answers: bounded, strict, and as the schema says."""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.metadata import SimpleMetadata

MAX_LIMIT = 1000
# Far below PostgreSQL's bigint, whose overflow a larger offset turned into a 500.
MAX_OFFSET = 2**31 - 1


def _bounded_int(request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    given = request.query_params.getlist(name)
    if not given:
        return default
    raw = given[0]
    if len(given) > 1:
        raise ValidationError({name: ["Give it once."]})
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not minimum <= int(raw) <= maximum:
        raise ValidationError({name: [f"A whole number from {minimum} to {maximum}."]})
    return int(raw)


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's ``limit``/``offset`` paging, refusing (400) what its schema does not allow.

    DRF falls back to the default on a malformed value (``offset=null`` answered 200) and passed
    any size to the database (a 20-digit ``limit`` answered 500).
    """

    max_limit = MAX_LIMIT

    def get_limit(self, request) -> int:
        return _bounded_int(request, self.limit_query_param, default=self.default_limit, minimum=1, maximum=MAX_LIMIT)

    def get_offset(self, request) -> int:
        return _bounded_int(request, self.offset_query_param, default=0, minimum=0, maximum=MAX_OFFSET)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": MAX_LIMIT},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class ApiMetadata(SimpleMetadata):
    """OPTIONS names the endpoint and its formats; the OpenAPI schema (``/api/v1/schema/``) has the fields.

    DRF's default describes each write's fields from ``get_serializer()``, which views with nested
    input serializers do not have (OPTIONS on orders answered 500).
    """

    def determine_actions(self, request, view) -> dict:
        return {}
