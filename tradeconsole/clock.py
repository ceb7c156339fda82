"""The desk's one clock on pages: every time a person reads is in ``settings.TIME_ZONE``, named on the page.

Times are stored in UTC (``USE_TZ``); tables, titles and chart axes show them in the desk's zone
(an IANA name such as ``America/New_York``), and every page says which zone that is. Log lines
are the other clock, UTC with the zone written (``logclock``).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def desk_time_zone() -> str:
    """Return the IANA name of the desk's time zone."""
    return settings.TIME_ZONE


def desk_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Format an aware datetime in the desk's time zone ("" for None)."""
    return timezone.localtime(value).strftime(fmt) if value else ""


def desk_day_start(now: datetime) -> datetime:
    """Return the midnight, in the desk's time zone, that began the day of ``now``."""
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def context(request: HttpRequest) -> dict:
    """Template context processor: the desk's zone, which every page names (``desk_time_zone``)."""
    return {"desk_time_zone": desk_time_zone()}
