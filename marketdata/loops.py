"""The loops of the marketdata process (``manage.py marketdata``), built from the settings.

Each loop is an object with ``run(stop: threading.Event)`` that returns once ``stop`` is set; the
command runs each in a thread of its own. ``process_loops`` is the one list of them.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from django.conf import settings
from django.db import close_old_connections

from marketdata import sessions
from marketdata.bar_loop import BarLoop
from marketdata.bars import BarRecord
from marketdata.broker import broker_loop
from marketdata.builder import BarBuilder
from marketdata.services.bars import bars_store_closed, instrument_ids
from marketdata.services.watchlists import watchlist_wanted_sync
from orders.models import Instrument
from streams.redis_client import get_redis

logger = logging.getLogger(__name__)


class Loop(Protocol):
    def run(self, stop: threading.Event) -> None: ...


def process_loops() -> list[tuple[str, Loop]]:
    """``(name, loop)`` of every loop the marketdata process runs, each in its own thread.

    ``broker``: the history backfill and the contract lookups over the process's own TWS client id.
    ``wanted``: the wanted-symbols set rebuilt from the watchlists now and then.
    """
    return [("bars", bar_loop()), ("broker", broker_loop()), ("wanted", WantedSymbols())]


class WantedSymbols:
    """Rebuilds ``{prefix}:md:wanted`` from PostgreSQL every ``interval`` seconds (and at start).

    The watchlist service keeps the set current on each commit; this repairs what it cannot: a
    Redis restarted empty, a failed update, a removal that crossed another user's add.
    """

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self.syncs = 0

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                watchlist_wanted_sync()
                self.syncs += 1
            except Exception:
                # PostgreSQL or Redis away: the next round tries again; the process keeps serving.
                logger.warning("could not rebuild the wanted symbols", exc_info=True)
                close_old_connections()
            stop.wait(self.interval)


def bar_loop(**options) -> BarLoop:
    """The bar builder's loop on the desk's Redis, prefix, calendars and PostgreSQL (``options``
    override the settings, as tests and benchmarks do)."""
    defaults = {
        "window": settings.MARKETDATA_BAR_WINDOW,
        "updates_maxlen": settings.MARKETDATA_BAR_UPDATES_MAXLEN,
        "close_delay": settings.MARKETDATA_BAR_CLOSE_DELAY,
    }
    return BarLoop(
        get_redis(), settings.STREAM_PREFIX, BarBuilder(instrument_calendar), BarStore(), **{**defaults, **options}
    )


def instrument_calendar(symbol: str) -> sessions.SessionCalendar:
    """The exchange calendar of ``symbol``'s instrument (``MARKETDATA_CALENDAR`` when the desk does
    not know the symbol or its exchange names no calendar)."""
    default = settings.MARKETDATA_CALENDAR
    row = (
        Instrument.objects.filter(symbol=symbol)
        .order_by("-active", "id")
        .values_list("exchange", "primary_exchange")
        .first()
    )
    code = sessions.calendar_code(*row, default=default) if row else default
    try:
        return sessions.calendar(code)
    except sessions.UnknownCalendar:
        logger.warning("%s: unknown exchange calendar %r; using %s", symbol, code, default)
        return sessions.calendar(default)


class BarStore:
    """The builder's ``store``: closed bars into PostgreSQL, with the symbols' instrument ids kept."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, bars: list[BarRecord]) -> int:
        try:
            missing = {bar.symbol for bar in bars} - self.ids.keys()
            if missing:
                self.ids.update(instrument_ids(missing))
            return bars_store_closed(bars=bars, instruments=self.ids)
        except Exception:
            # The loop retries; a broken connection must not be the one it retries on.
            close_old_connections()
            raise
