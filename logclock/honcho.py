"""``python -m logclock.honcho start …``: honcho, with its line prefixes in UTC and the zone written.

honcho stamps each line with the machine's local time (``14:03:05 web.1 | …``); under ``make
run`` the lines it prefixes carry UTC stamps of their own, so its prefix says UTC too
(``19:03:05Z web.1 | …``).
"""

from __future__ import annotations

import sys
from datetime import UTC

import honcho.command
from honcho.printer import Message, Printer


class UTCPrinter(Printer):
    """honcho's printer with the prefix's time in UTC, written ``HH:MM:SSZ``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("time_format", "%H:%M:%SZ")
        super().__init__(*args, **kwargs)

    def write(self, message: Message) -> None:
        # honcho's clock is naive local time; astimezone() reads a naive time as local.
        super().write(message._replace(time=message.time.astimezone(UTC)))


def main(argv: list[str] | None = None) -> None:
    honcho.command.Printer = UTCPrinter
    honcho.command.main(argv)


if __name__ == "__main__":
    sys.argv[0] = "honcho"
    main()
