"""Every write of market data, one topic per module; callers import from this package."""

from marketdata.services.history import HistoryBar, history_bars_store
from marketdata.services.watchlists import (
    WATCHLIST_LIMIT,
    watchlist_add,
    watchlist_remove,
    watchlist_reorder,
    watchlist_wanted_sync,
)

__all__ = [
    "WATCHLIST_LIMIT",
    "HistoryBar",
    "history_bars_store",
    "watchlist_add",
    "watchlist_remove",
    "watchlist_reorder",
    "watchlist_wanted_sync",
]
