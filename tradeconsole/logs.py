"""Logging filters of the server log (``settings.LOGGING``)."""

from __future__ import annotations

import logging


class ClientErrorWithoutTraceback(logging.Filter):
    """Keep a 4xx answer to one line: a refusal (403, 404…) is expected, its traceback is noise.

    Django logs the exception of a ``PermissionDenied`` or ``Http404`` with the warning; a 5xx
    keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if 400 <= getattr(record, "status_code", 0) < 500:
            record.exc_info = None
            record.exc_text = None
        return True
