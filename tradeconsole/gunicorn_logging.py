"""gunicorn's logger on the desk's one log clock (``--logger-class tradeconsole.gunicorn_logging.GunicornLogger``)."""

from __future__ import annotations

import time

from gunicorn.glogging import Logger

from logclock.structured import formatter


class GunicornLogger(Logger):
    """gunicorn's error and access logs stamped in UTC with the zone written, as JSON lines or text
    like every other process (``logclock.structured``, ``TRADECONSOLE_LOG_FORMAT``).

    gunicorn's own formatter and its access log's ``%(t)s`` stamp local time
    (``[2026-11-22 09:03:05 -0500]`` once Django has set the zone to the desk's).
    """

    def _set_handler(self, log, output, fmt, stream=None):
        # gunicorn builds each handler's formatter from its own format and date format: keep the
        # format (of the text lines), take the one clock and the chosen rendering.
        return super()._set_handler(log, output, formatter(fmt._fmt), stream=stream)

    def now(self) -> str:
        """The access log's ``%(t)s``: Apache's format, in UTC."""
        return time.strftime("[%d/%b/%Y:%H:%M:%S +0000]", time.gmtime())
