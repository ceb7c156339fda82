"""``python -m tradeconsole.web …``: daphne (same arguments), with its access log written through logging.

daphne writes its access log itself, stamped ``datetime.now()``: the process's local time, which
Django sets to the desk's zone, with no zone written. Through the ``daphne.access`` logger the
lines take the one clock of every log line (``settings.LOGGING``: UTC with ``Z``, ``logclock``).
"""

from __future__ import annotations

import logging
import sys

import daphne.cli
from daphne.access import AccessLogGenerator

logger = logging.getLogger("daphne.access")


class AccessLog(AccessLogGenerator):
    """daphne's access log entries as log records (the stream daphne hands it is not used)."""

    def write_entry(self, host, date, request, status=None, length=None, ident=None, user=None) -> None:
        logger.info('%s %s %s "%s" %s %s', host, ident or "-", user or "-", request, status or "-", length or "-")


def main(argv: list[str] | None = None) -> None:
    """Run daphne's command line with ``argv`` (default: this process's arguments)."""
    daphne.cli.AccessLogGenerator = AccessLog
    daphne.cli.CommandLineInterface().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
