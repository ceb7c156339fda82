"""IB's numbers and times as the desk writes them: floats as Decimals, execution times as UTC.

ibapi hands the worker floats (with binary noise, or ``UNSET_DOUBLE`` for "none") and execution
times in TWS's own zone; events carry Decimals and ISO 8601 UTC.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

log = logging.getLogger("execution_worker")

# ibapi's UNSET_DOUBLE (sys.float_info.max) and anything that large means "no value".
UNSET_DOUBLE_LIMIT = 1e300

_EIGHT_PLACES = Decimal("1e-8")


def ib_decimal(value: float) -> Decimal:
    """A float from ibapi as a Decimal rounded to 8 places (drops binary noise such as 190.10999999999999)."""
    if value != value or abs(value) >= UNSET_DOUBLE_LIMIT:
        return Decimal(0)
    number = Decimal(repr(value)).quantize(_EIGHT_PLACES).normalize()
    return number if number else Decimal(0)


def exec_time(text: str) -> datetime:
    """IB's execution time ``yyyymmdd  hh:mm:ss[ zone]`` as an aware UTC datetime; now when unreadable.

    TWS writes the time in its own zone and names it after the time (``US/Eastern``, ``UTC``...);
    without a readable zone name the time is taken as UTC (the simulator's and the desk's TWS zone).
    """
    parts = text.split()
    try:
        stamp = datetime.strptime(f"{parts[0]} {parts[1]}", "%Y%m%d %H:%M:%S")
    except (ValueError, IndexError):
        return datetime.now(UTC)
    zone = UTC
    if len(parts) > 2:
        try:
            zone = ZoneInfo(parts[2])
        except (ValueError, ZoneInfoNotFoundError):
            log.warning("execution time zone %r is unknown; reading %s as UTC", parts[2], text)
    return stamp.replace(tzinfo=zone).astimezone(UTC)


def exec_time_iso(text: str) -> str:
    """IB's execution time as ISO 8601 UTC (``...Z``), see ``exec_time``."""
    return exec_time(text).isoformat().replace("+00:00", "Z")
