"""What one row of a live page shows: a plain dict built from the database, rendered by one template.

The same builder feeds the first load (the view renders ``streams/rows/<kind>.html`` with it) and
the live update (the bridge sends the dict through the channel layer and the consumer renders the
same template with it), so a row looks the same either way. Values are strings, ints, bools or
None so that they travel as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal

from django.utils import timezone

from accounts.models import AccountValue, Alert, BrokerAccount, KillSwitch, ProcessHeartbeat
from accounts.selectors import kill_switch_reason
from orders import valuation
from orders.models import Position
from orders.transitions import WORKING_STATUSES
from strategies.models import TradingSession
from streams import sql
from streams.figures import figures_text

# The blotter's order rows live in their own module (this one passed 400 lines); callers keep reading them here.
from streams.order_rows import order_row, order_row_by_id, order_rows
from streams.row_values import num as _num
from streams.row_values import row
from streams.row_values import time_text as _time
from tradeconsole.clock import desk_day_start, desk_time

__all__ = ["order_row", "order_row_by_id", "order_rows", "row"]

ACCOUNT_TAGS = ("NetLiquidation", "BuyingPower", "RealizedPnL", "UnrealizedPnL")


def account_row(account: BrokerAccount) -> dict:
    """The desk row of one account: its broker values, halted badge and open order count.

    The account is halted when it is halted itself or the desk-wide kill switch is engaged (the
    worker refuses its orders either way); ``trading_enabled`` keeps the account's own state,
    which decides whether the row offers Halt or Resume. Read as ``account_rows`` reads it.
    """
    return account_rows([account.pk])[0]


def account_rows(pks: Iterable[int]) -> list[dict]:
    """The desk rows of the accounts ``pks`` (as ``account_row`` describes them), in id order.

    Three plain statements whatever the number of accounts (the accounts with their working order
    count and latest PnL point today, their broker values, the kill switch): a new order's commit
    renders its account's row, and the ORM's four reads of it cost more CPU than the rest of the
    order's entry (publishing runs in the committing process, ``streams.publish``).
    """
    pks = sorted({int(pk) for pk in pks})
    now = timezone.now()
    found = sql.accounts_for_rows(
        pks=pks,
        working_statuses=sorted(str(value) for value in WORKING_STATUSES),
        day_start=desk_day_start(now),
        now=now,
    )
    values: dict[int, dict[str, AccountValue]] = {}
    for found_value in sql.account_values_for_rows(pks=pks, tags=ACCOUNT_TAGS):
        values.setdefault(found_value.account_id, {})[found_value.tag] = found_value
    switch_reason = kill_switch_reason()
    return [
        _account_row(
            account,
            values=values.get(account.pk, {}),
            open_orders=open_orders,
            day=valuation.account_day_pnl_at(account=account, latest=latest),
            switch_reason=switch_reason,
        )
        for account, open_orders, latest in found
    ]


def _account_row(
    account: BrokerAccount,
    *,
    values: dict[str, AccountValue],
    open_orders: int,
    day: valuation.DayPnL | None,
    switch_reason: str | None,
) -> dict:
    def value(tag: str) -> str:
        found = values.get(tag)
        if found is None:
            return ""
        try:
            return f"{Decimal(found.value):,.2f}"
        except ArithmeticError:
            return found.value

    updated = max((v.updated_at for v in values.values()), default=None)
    kill_switch_engaged = switch_reason is not None
    ctx = {
        "pk": account.pk,
        "code": account.code,
        "name": account.name,
        "kind": account.kind,
        "trading_enabled": account.trading_enabled,
        "halted": kill_switch_engaged or not account.trading_enabled,
        "halted_reason": account.halted_reason,
        "kill_switch_engaged": kill_switch_engaged,
        "kill_switch_reason": switch_reason or "",
        "net_liquidation": value("NetLiquidation"),
        "buying_power": value("BuyingPower"),
        "daily_pnl": _num(day.pnl, 2) if day else "",
        "daily_pnl_negative": bool(day and day.pnl < 0),
        "daily_pnl_at": _time(day.at) if day else "",
        "open_orders": open_orders,
        "values_at": _time(updated),
    }
    return row("account", f"account-{account.pk}", ctx, account_id=account.pk)


def position_row(position: Position) -> dict:
    """The positions-page row: quantity, cost, latest price (stale or not), unrealized and realized PnL."""
    instrument = position.instrument
    value = valuation.position_valuation(position=position)
    unrealized = value.unrealized
    mismatch = position.broker_quantity is not None and position.broker_quantity != position.quantity
    ctx = {
        "pk": position.pk,
        "account_id": position.account_id,
        "account": position.account.code,
        "symbol": instrument.symbol,
        "quantity": _num(position.quantity),
        "average_cost": _num(position.average_cost, 4),
        "last_price": _num(value.price),
        "last_price_at": desk_time(value.priced_at),
        "price_stale": value.price is not None and value.stale,
        "market_value": _num(value.market_value, 2),
        "unrealized_pnl": _num(unrealized, 2),
        "unrealized_negative": unrealized is not None and unrealized < 0,
        "realized_pnl": _num(position.realized_pnl, 2),
        "realized_negative": position.realized_pnl < 0,
        "broker_quantity": _num(position.broker_quantity),
        "mismatch": mismatch,
    }
    return row("position", f"position-{position.pk}", ctx, account_id=position.account_id)


def session_row(session: TradingSession) -> dict:
    """The strategy-sessions row: what runs where, its figures, and which controls apply.

    Load ``strategy``, ``account``, ``instrument`` and ``version`` with it. ``equity_value`` and
    ``last_bar_time`` (the last bar decided, epoch s) are the raw values the session page's equity
    chart appends when the row arrives live.
    """
    pnl = session.realized_pnl + session.unrealized_pnl
    trades = session.trade_count
    version = session.version
    ctx = {
        "pk": session.pk,
        "strategy": session.strategy.name,
        "account_id": session.account_id,
        "account": session.account.code,
        "mode": session.mode,
        "mode_label": "Forward" if session.mode == TradingSession.Mode.FORWARD else "Broker",
        "symbol": session.instrument.symbol if session.instrument_id else "",
        "version": f"v{version.number}" if version else "",
        "resolution": session.resolution,
        "status": session.status,
        "status_label": session.get_status_display(),
        "status_reason": session.status_reason,
        "equity": _num(session.equity, 2),
        "equity_value": _num(session.equity),
        "last_bar_time": session.last_bar_time,
        "last_bar_at": desk_time(datetime.fromtimestamp(session.last_bar_time, tz=UTC), "%m-%d %H:%M")
        if session.last_bar_time is not None
        else "",
        "pnl": _num(pnl, 2),
        "pnl_negative": pnl < 0,
        "realized_pnl": _num(session.realized_pnl, 2),
        "realized_negative": session.realized_pnl < 0,
        "unrealized_pnl": _num(session.unrealized_pnl, 2),
        "unrealized_negative": session.unrealized_pnl < 0,
        "max_drawdown": _num(session.max_drawdown, 2),
        "trade_count": trades,
        "win_count": session.win_count,
        "win_rate": f"{100 * session.win_count / trades:.1f} %" if trades else "",
        "sharpe": "" if session.sharpe is None else f"{session.sharpe:.2f}",
        "started_at": _time(session.started_at),
        "can_start": session.status == TradingSession.Status.PENDING,
        "can_pause": session.status == TradingSession.Status.RUNNING,
        "can_resume": session.status == TradingSession.Status.PAUSED,
        "can_stop": session.status
        in (TradingSession.Status.RUNNING, TradingSession.Status.PAUSED, TradingSession.Status.PENDING),
    }
    return row("session", f"session-{session.pk}", ctx, account_id=session.account_id)


def process_row(heartbeat: ProcessHeartbeat, *, stale_after: float = 15.0) -> dict:
    """The system-page row of one process: last heartbeat, age, state and its figures."""
    age = (timezone.now() - heartbeat.last_seen_at).total_seconds()
    data = heartbeat.data or {}
    ctx = {
        "name": heartbeat.name,
        "state": heartbeat.state,
        "detail": heartbeat.detail,
        "last_seen_at": _time(heartbeat.last_seen_at),
        "started_at": _time(heartbeat.started_at),
        "stale": age > stale_after,
        "figures": figures_text(data),
    }
    return row("process", f"process-{heartbeat.name}", ctx)


def gateway_row(heartbeat: ProcessHeartbeat | None) -> dict:
    """The desk's gateway badge, from the execution worker's heartbeat row."""
    ctx = {
        "state": heartbeat.state if heartbeat else "unknown",
        "detail": heartbeat.detail if heartbeat else "no heartbeat from the execution worker yet",
        "last_seen_at": _time(heartbeat.last_seen_at) if heartbeat else "",
        "ready": bool(heartbeat and heartbeat.state == "ready"),
        "stale": not heartbeat or (timezone.now() - heartbeat.last_seen_at).total_seconds() > 15,
    }
    return row("gateway", "gateway", ctx)


def kill_switch_row(switch: KillSwitch | None) -> dict:
    """The desk's kill switch banner: engaged (no new orders on any account) or released."""
    ctx = {
        "engaged": bool(switch and switch.engaged),
        "reason": switch.reason if switch else "",
        "changed_at": _time(switch.changed_at) if switch and switch.changed_at else "",
        "changed_by": str(switch.changed_by) if switch and switch.changed_by_id else "",
    }
    return row("killswitch", "kill-switch", ctx)


def alert_row(alert: Alert) -> dict:
    ctx = {
        "pk": alert.pk,
        "severity": alert.severity,
        "status": alert.status,
        "message": alert.message,
        "account": alert.account.code if alert.account_id else "",
        "raised_at": _time(alert.raised_at),
    }
    return row("alert", f"alert-{alert.pk}", ctx, account_id=alert.account_id)


def quote_row(symbol: str, fields: dict[str, str], at_ns: int | None = None) -> dict:
    """The market-watch row of one symbol from a ``{prefix}:md:<symbol>`` entry."""
    dom_id = "quote-" + "".join(c if c.isalnum() else "_" for c in symbol)
    ctx = {
        "dom_id": dom_id,
        "symbol": symbol,
        "bid": fields.get("bid", ""),
        "ask": fields.get("ask", ""),
        "last": fields.get("last", ""),
        "bid_size": fields.get("bid_size", ""),
        "ask_size": fields.get("ask_size", ""),
        "last_size": fields.get("last_size", ""),
        "at": _time(datetime.fromtimestamp(at_ns / 1e9, tz=UTC)) if at_ns else "",
    }
    return row("quote", dom_id, ctx)


def pnl_row(point) -> dict:
    """One point of an account's intraday PnL curve (the chart appends it; no template)."""
    ctx = {"account_id": point.account_id, "t": int(point.at.timestamp()), "pnl": float(point.total_pnl)}
    return row("pnl", f"pnl-{point.account_id}-{point.pk}", ctx, account_id=point.account_id)


def system_row() -> dict:
    """The System page's figures: stream lengths, consumer-group lag and pending, latest dead letters,
    and the circuit breakers of every process."""
    from streams import keys
    from streams.redis_client import get_redis

    client = get_redis()
    streams = []
    for name in (keys.commands_stream(), keys.events_stream(), keys.dlq_stream()):
        length = client.xlen(name)
        groups = client.xinfo_groups(name) if client.exists(name) else []
        streams.append(
            {
                "name": name,
                "length": length,
                "groups": [
                    {"name": g["name"], "pending": g["pending"], "lag": g.get("lag"), "consumers": g["consumers"]}
                    for g in groups
                ],
            }
        )
    dead = [
        {
            "id": entry_id,
            "code": fields.get("code", ""),
            "reason": fields.get("reason", "")[:200],
            "type": fields.get("type", ""),
            "stream": fields.get("stream", ""),
        }
        for entry_id, fields in client.xrevrange(keys.dlq_stream(), count=20)
    ]
    ctx = {"streams": streams, "dead_letters": dead, "breakers": _breakers(client), "at": _time(timezone.now())}
    return row("system", "system-figures", ctx)


def _breakers(client) -> list[dict]:
    """Every process's circuit breakers (``tradeconsole.breakers``): name, process, state, failures, since."""
    from tradeconsole.breakers import breaker_states_everywhere

    return [
        {**state, "since": _time(datetime.fromtimestamp(state["since"], UTC)) if state.get("since") else ""}
        for state in breaker_states_everywhere(client)
    ]
