"""The columns of the orders app's CSV exports (orders, fills, positions), in the desk's words.

One definition serves the API's ``export.csv`` endpoints and the admin's Export CSV; the rows
come from the scoped selectors (API) or the changelist's filtered queryset (admin).
"""

from __future__ import annotations

from tradeconsole.csv_export import Column


def _strategy(order) -> str:
    session = order.trading_session
    return session.strategy.name if session is not None and session.strategy_id else ""


def _username(user) -> str:
    return user.get_username() if user is not None else ""


ORDER_COLUMNS = [
    Column("Created (UTC)", lambda o: o.created_at),
    Column("Account", lambda o: o.account.code),
    Column("Symbol", lambda o: o.instrument.symbol),
    Column("Side", lambda o: o.side),
    Column("Quantity", lambda o: o.quantity),
    Column("Order type", lambda o: o.order_type),
    Column("Limit price", lambda o: o.limit_price),
    Column("Stop price", lambda o: o.stop_price),
    Column("Time in force", lambda o: o.tif),
    Column("Outside regular trading hours", lambda o: o.outside_rth),
    Column("Status", lambda o: o.status),
    Column("Filled quantity", lambda o: o.filled_quantity),
    Column("Average fill price", lambda o: o.average_fill_price),
    Column("Reject code", lambda o: o.reject_code),
    Column("Reject reason", lambda o: o.reject_reason),
    Column("Source", lambda o: o.source),
    Column("Strategy", _strategy),
    Column("Entered by", lambda o: _username(o.created_by)),
    Column("Submitted (UTC)", lambda o: o.submitted_at),
    Column("Completed (UTC)", lambda o: o.completed_at),
    Column("Client order id", lambda o: o.client_order_id),
    Column("IB order id", lambda o: o.ib_order_id),
    Column("IB perm id", lambda o: o.perm_id),
]

FILL_COLUMNS = [
    Column("Executed (UTC)", lambda f: f.executed_at),
    Column("Account", lambda f: f.account.code),
    Column("Symbol", lambda f: f.instrument.symbol),
    Column("Side", lambda f: f.side),
    Column("Quantity", lambda f: f.quantity),
    Column("Price", lambda f: f.price),
    Column("Commission", lambda f: f.commission),
    Column("Commission currency", lambda f: f.commission_currency),
    Column("Realized PnL", lambda f: f.realized_pnl),
    Column("IB execution id", lambda f: f.exec_id),
    Column("Client order id", lambda f: f.order.client_order_id if f.order_id else ""),
]

POSITION_COLUMNS = [
    Column("Account", lambda p: p.account.code),
    Column("Symbol", lambda p: p.instrument.symbol),
    Column("Quantity", lambda p: p.quantity),
    Column("Average cost", lambda p: p.average_cost),
    Column("Last price", lambda p: p.instrument.last_price),
    Column("Realized PnL", lambda p: p.realized_pnl),
    Column("Broker quantity", lambda p: p.broker_quantity),
    Column("Broker average cost", lambda p: p.broker_average_cost),
    Column("Broker reported (UTC)", lambda p: p.broker_reported_at),
    Column("Updated (UTC)", lambda p: p.updated_at),
]
