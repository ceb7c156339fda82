"""Every write of the strategies app, one topic per module; callers import from this package.

``strategies``: adding and changing strategies. ``versions``: saving a strategy's graph as a new
immutable version and approving it. ``sessions``: opening trading sessions and the table of
their moves; ``session_controls``: starting, pausing, resuming and stopping them (by people,
and by the runner itself); ``session_flatten``: closing a broker session's position as it
stops. Each change writes an audit row in its transaction.
"""

from strategies.services.session_controls import (
    trading_session_pause,
    trading_session_pause_self,
    trading_session_resume,
    trading_session_start,
    trading_session_stop,
    trading_session_stop_self,
)
from strategies.services.session_flatten import session_flatten_client_order_id, session_net_position
from strategies.services.session_orders import session_order_place
from strategies.services.sessions import SESSION_TRANSITIONS, trading_session_create
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
    "session_flatten_client_order_id",
    "session_net_position",
    "session_order_place",
    "strategy_create",
    "strategy_update",
    "strategy_version_approve",
    "strategy_version_save",
    "trading_session_create",
    "trading_session_pause",
    "trading_session_pause_self",
    "trading_session_resume",
    "trading_session_start",
    "trading_session_stop",
    "trading_session_stop_self",
    "version_may_trade_live",
]
