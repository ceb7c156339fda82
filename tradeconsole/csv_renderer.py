"""The API's text/csv media type, so a client asking ``Accept: text/csv`` reaches an export.

The export itself streams (``tradeconsole.csv_export``); this renderer only answers content
negotiation, and writes a refusal (a problem, a dict) as JSON, since a refusal has no rows.
"""

from __future__ import annotations

import json

from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.settings import api_settings


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return json.dumps(data, default=str).encode()


def export_renderers() -> list[type[BaseRenderer]]:
    """The renderers of an export endpoint: JSON first (refusals for ``Accept: */*``), then CSV."""
    return [JSONRenderer, *[r for r in api_settings.DEFAULT_RENDERER_CLASSES if r is not JSONRenderer], CsvRenderer]
