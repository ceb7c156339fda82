"""The monitoring loop (issue 6): one run keeps every account's book true and protected.

A run, at most one at a time across every Celery worker (a PostgreSQL advisory lock; a run that
finds it held does nothing), does in order:

1. asks the worker to refresh positions and account values (``broker.refresh``) within a
   broker-message budget (``MONITOR_BROKER_MESSAGES_PER_SECOND``), so orders keep their headroom,
   and publishes again any account's risk limits Redis has lost (a restart without persistence),
   without which the worker refuses every order of the account;
2. catches the FIFO PnL books up with the new fills, checks them against a full recompute every
   ``MONITOR_FULL_RECOMPUTE_EVERY`` runs, and stores one ``PnLPoint`` per account;
3. updates each running trading session's unrealized PnL, peak and maximum drawdown (realized
   PnL, trades and wins follow each fill in ``fill_record``);
4. compares the broker's positions with the book: a mismatch halts the account (fail closed) and
   raises a critical alert that a Risk manager must acknowledge (audited); a position without a
   recent broker report is never read as flat, it raises its own alert;
5. gives every position whose policy asks for it a protective stop-loss and/or take-profit (an
   OCA pair where both apply), once, and not again while one is working; keeps their quantity
   in step with the position and cancels them when the position is flat;
6. re-prices stale limit orders toward the touch (or cancels them) and re-places orders
   rejected for a transient reason, at most the configured number of times, each action an
   ``OrderEvent`` with its reason;
7. raises (once) and resolves alerts: gateway disconnected, worker or bridge heartbeat missing,
   stream lag, outbox backlog, dead letters, and the daily loss limit (which halts the account).

Policies come from the account's ``RiskLimit`` (``stop_loss_pct``, ``take_profit_pct``,
``stale_order_seconds``, ``stale_order_action``, ``stale_reprice_max``, ``reject_retry_max``);
a running strategy's ``parameters`` with the same names override them for its instruments.

One module per job: ``run`` (the lock and the order of the steps), ``reconcile`` (1, 4),
``pnl`` and ``books`` (2, 3, today's PnL), ``protection`` (5), ``stale`` (6), ``alerts`` (7),
``policy``; ``common`` holds what the steps share. Callers import from this package.
"""

from orders.monitoring.alerts import daily_loss_check, system_alerts
from orders.monitoring.books import AccountPnL, PnLTracker
from orders.monitoring.common import PROTECT_PREFIX, MonitoringReport
from orders.monitoring.pnl import daily_pnl, pnl_update, pnl_verify, sessions_update
from orders.monitoring.policy import Policy, policy_for
from orders.monitoring.protection import (
    PROTECTION_ATTEMPTS,
    UnprotectedPosition,
    protection_ensure,
    protection_place,
    protective_orders,
    protective_prices,
    unprotected_positions,
)
from orders.monitoring.reconcile import (
    broker_refresh_request,
    positions_compare,
    refresh_cost,
    risk_limits_ensure,
)
from orders.monitoring.run import MONITOR_LOCK_KEY, advisory_lock, monitoring_run
from orders.monitoring.stale import (
    TRANSIENT_REJECT_CODES,
    rejected_orders_replace,
    replacement_client_order_id,
    repriced_limit,
    stale_orders_handle,
    touch_price,
)

__all__ = [
    "MONITOR_LOCK_KEY",
    "PROTECTION_ATTEMPTS",
    "PROTECT_PREFIX",
    "TRANSIENT_REJECT_CODES",
    "AccountPnL",
    "MonitoringReport",
    "PnLTracker",
    "Policy",
    "UnprotectedPosition",
    "advisory_lock",
    "broker_refresh_request",
    "daily_loss_check",
    "daily_pnl",
    "monitoring_run",
    "pnl_update",
    "pnl_verify",
    "policy_for",
    "positions_compare",
    "protection_ensure",
    "protection_place",
    "protective_orders",
    "protective_prices",
    "refresh_cost",
    "rejected_orders_replace",
    "replacement_client_order_id",
    "repriced_limit",
    "risk_limits_ensure",
    "sessions_update",
    "stale_orders_handle",
    "system_alerts",
    "touch_price",
    "unprotected_positions",
]
