"""Every write of the strategies app, one topic per module; callers import from this package.

``strategies``: adding and changing strategies. ``versions``: saving a strategy's graph as a new
immutable version and approving it. ``sessions``: creating, starting, pausing, resuming and
stopping trading sessions. Each change writes an audit row in its transaction.
"""

from strategies.services.sessions import (
    SESSION_TRANSITIONS,
    trading_session_create,
    trading_session_pause,
    trading_session_resume,
    trading_session_start,
    trading_session_stop,
)
from strategies.services.strategies import STRATEGY_EDITABLE, strategy_create, strategy_update
from strategies.services.versions import (
    graph_refusal,
    strategy_version_approve,
    strategy_version_save,
    version_may_trade_live,
)

__all__ = [
    "SESSION_TRANSITIONS",
    "STRATEGY_EDITABLE",
    "graph_refusal",
    "strategy_create",
    "strategy_update",
    "strategy_version_approve",
    "strategy_version_save",
    "trading_session_create",
    "trading_session_pause",
    "trading_session_resume",
    "trading_session_start",
    "trading_session_stop",
    "version_may_trade_live",
]
