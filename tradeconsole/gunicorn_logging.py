"""gunicorn's logger on the desk's one log clock (``--logger-class tradeconsole.gunicorn_logging.GunicornLogger``)."""

from __future__ import annotations

import time

from gunicorn.glogging import Logger

import logclock


class GunicornLogger(Logger):
    """gunicorn's error and access logs stamped in UTC with the zone written (``logclock.UTCFormatter``).

    gunicorn's own formatter and its access log's ``%(t)s`` stamp local time
    (``[2026-11-22 09:03:05 -0500]`` once Django has set the zone to the desk's).
    """

    def _set_handler(self, log, output, fmt, stream=None):
        # gunicorn builds each handler's formatter from its own format and date format: keep the
        # format, take the one clock.
        return super()._set_handler(log, output, logclock.UTCFormatter(fmt._fmt), stream=stream)

    def now(self) -> str:
        """The access log's ``%(t)s``: Apache's format, in UTC."""
        return time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime())
