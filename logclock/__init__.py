"""One clock for every process's log lines: UTC in ISO 8601 with the zone written (``…T14:03:05.123Z``).

No Django (the standard library and structlog), so every process may use it: Django's ``LOGGING`` (web, api, bridge,
Celery worker and beat), gunicorn, the execution worker and the simulator, which never import
Django, and honcho's line prefixes under ``make run`` (``python -m logclock.honcho``). Django
sets its process's local zone to the desk's (``TZ=settings.TIME_ZONE``), so a formatter on local
time writes New York time in Django's processes and the machine's zone in the others; this one
never reads the local zone.

``logclock.structured`` writes the lines as JSON (or text for people) with the correlation id of
``logclock.correlation``.
"""

from __future__ import annotations

import logging
import sys
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class UTCFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose ``%(asctime)s`` is UTC, ``2026-11-22T14:03:05.123Z``."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"

    def __init__(self, fmt: str | None = FORMAT, datefmt: str | None = None, style: str = "%", **kwargs) -> None:
        # A date format of another clock would defeat the one clock: only the default is used.
        super().__init__(fmt, None, style, **kwargs)


def configure(level: str | int = "INFO", fmt: str = FORMAT) -> None:
    """Send the root logger's records to stderr as ``TRADECONSOLE_LOG_FORMAT`` says (for processes without Django).

    JSON lines by default, ``fmt`` through ``UTCFormatter`` when the variable says ``console``
    (``logclock.structured``). Replaces whatever handlers the root logger had, so calling it twice
    does not double the lines.

    :raises ValueError: ``TRADECONSOLE_LOG_FORMAT`` is neither ``json`` nor ``console``.
    """
    from logclock.structured import formatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
