"""The AsyncAPI 3.0 document of the market topics (``marketdata/asyncapi.json``), served beside the OpenAPI schema."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.permissions import IsDeskMember

DOCUMENT = Path(__file__).resolve().parents[1] / "asyncapi.json"


@cache
def asyncapi_document() -> dict:
    """The document, read once per process."""
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


class AsyncApiDocumentApi(APIView):
    """The market topics' AsyncAPI document (JSON), for desk members as the OpenAPI schema is."""

    permission_classes = [IsDeskMember]
    # Not part of the REST API it sits beside: the OpenAPI schema leaves it out.
    schema = None

    def get(self, request):
        return Response(asyncapi_document())
