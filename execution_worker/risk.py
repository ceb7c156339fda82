"""The in-memory pre-trade risk gate: kill switch, per-account limits, quantity increments, collar, rate
and duplicates.

Every check is a dictionary lookup or a little arithmetic so the decision takes microseconds; the
state it reads (limits, halts, last prices, positions) is kept current by other threads. A refusal
is a ``Refusal`` with a stable ``code`` the worker turns into ``order.rejected``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from execution_worker.messages import DECIMAL_LIMIT_KEYS, STOCK

GLOBAL = "*"
# The daily loss limit counts realized PnL per trading date, the date in New York (US equities).
TRADING_ZONE = ZoneInfo("America/New_York")


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def check_quantity_increment(order) -> Refusal | None:
    """Refuse an ``OrderPlace`` whose quantity is below its ``min_quantity`` or not a whole number
    of its ``quantity_increment`` (whole shares for ``STK`` when both are absent)."""
    increment = getattr(order, "quantity_increment", None)
    minimum = getattr(order, "min_quantity", None)
    if increment is None and getattr(order, "sec_type", STOCK) == STOCK:
        increment = STOCK_QUANTITY_STEP
    if minimum is None:
        minimum = increment
    quantity = order.quantity
    if (increment is None or quantity % increment == 0) and (minimum is None or quantity >= minimum):
        return None
    step = _plain(increment) if increment is not None else "any"
    least = f" (at least {_plain(minimum)})" if minimum is not None else ""
    return Refusal(
        "order.quantity_increment",
        f"{order.symbol} trades in increments of {step}{least}: {_plain(quantity)} is not such a quantity",
    )


def trading_date(at: datetime | None = None) -> date:
    """The trading date of the instant ``at`` (an aware datetime; now when None)."""
    return (at or datetime.now(UTC)).astimezone(TRADING_ZONE).date()


DUPLICATE_WINDOW_S = 2.0
# An order.place without min_quantity / quantity_increment (a strategy XADDing directly): whole
# shares for stocks; other security types are not checked without the keys.
STOCK_QUANTITY_STEP = Decimal(1)
RATE_WINDOW_S = 60.0


class LimitsError(ValueError):
    """Published limits that cannot be read; the account is then treated as having none (fail closed)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an order may not go out: a stable ``code`` (``risk.*``) and a sentence for a person."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Limits:
    """One account's limits; None means no limit of that kind. ``allowed_symbols`` empty means all."""

    max_order_quantity: Decimal | None = None
    max_order_notional: Decimal | None = None
    max_position: Decimal | None = None
    max_daily_loss: Decimal | None = None
    price_collar_pct: Decimal | None = None
    orders_per_minute: int | None = None
    allowed_symbols: frozenset[str] = frozenset()

    @classmethod
    def from_json(cls, text: str | bytes) -> Limits:
        """Parse the JSON object Django publishes at ``{prefix}:risk:limits:{ACCOUNT}``.

        Unknown keys are ignored (Django may publish more than the gate uses).

        :raises LimitsError: not a JSON object, or a value that is not a non-negative number.
        """
        try:
            raw = json.loads(text)
        except ValueError as error:
            raise LimitsError(f"limits are not JSON: {error}")
        if not isinstance(raw, dict):
            raise LimitsError("limits must be a JSON object")
        values: dict[str, Any] = {}
        for key in DECIMAL_LIMIT_KEYS:
            values[key] = _limit_decimal(key, raw.get(key))
        rate = _limit_decimal("orders_per_minute", raw.get("orders_per_minute"))
        values["orders_per_minute"] = None if rate is None else int(rate)
        symbols = raw.get("allowed_symbols") or []
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            raise LimitsError("allowed_symbols must be a list of symbols")
        values["allowed_symbols"] = frozenset(s.upper() for s in symbols)
        return cls(**values)


def _limit_decimal(key: str, value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise LimitsError(f"{key} must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise LimitsError(f"{key} must be a number, not {value!r}")
    if not number.is_finite() or number < 0:
        raise LimitsError(f"{key} must be a non-negative number")
    return number


class RiskGate:
    """Decide whether an order may be sent, from state held in memory.

    ``admit`` is the one entry point on the order path: it checks and, on success, counts the order
    toward the rate and duplicate windows in the same critical section, so two threads never both
    slip under a limit. The other methods feed it state.
    """

    def __init__(self, *, require_limits: bool = True) -> None:
        self.require_limits = require_limits
        self._lock = threading.Lock()
        self.halts: dict[str, str] = {}
        self.limits: dict[str, Limits] = {}
        self.limit_errors: dict[str, str] = {}
        self.accounts: frozenset[str] = frozenset()
        self.last_prices: dict[str, Decimal] = {}
        self.positions: dict[tuple[str, str], Decimal] = {}
        # (account, trading date) -> realized PnL; a new date starts from zero.
        self.realized_pnl: dict[tuple[str, date], Decimal] = {}
        self._sent: dict[str, deque[float]] = {}
        # order signature -> (monotonic time admitted, client_order_id)
        self._recent: dict[tuple, tuple[float, str]] = {}

    # --- state feeds ---------------------------------------------------------------------------

    def set_halts(self, halts: dict[str, str]) -> None:
        """Replace the halt map: account (or ``*`` for all) -> reason."""
        self.halts = dict(halts)

    def set_accounts(self, accounts: frozenset[str] | set[str]) -> None:
        """The accounts TWS manages (from managedAccounts); others are unknown."""
        self.accounts = frozenset(accounts)

    def set_limits(self, account: str, limits: Limits | None, error: str | None = None) -> None:
        """Install (or with None remove) one account's limits; ``error`` records why they are unreadable."""
        if limits is None:
            self.limits.pop(account, None)
        else:
            self.limits[account] = limits
        if error:
            self.limit_errors[account] = error
        else:
            self.limit_errors.pop(account, None)

    def set_last_price(self, symbol: str, price: Decimal) -> None:
        self.last_prices[symbol] = price

    def set_position(self, account: str, symbol: str, quantity: Decimal) -> None:
        self.positions[(account, symbol)] = quantity

    def add_realized_pnl(self, account: str, pnl: Decimal, day: date | None = None) -> None:
        """Add realized PnL of an execution on trading date ``day`` (today when None); dates older
        than a few days are dropped (they no longer count toward any limit)."""
        day = day or trading_date()
        with self._lock:  # the gate's lock: admit() reads this map under it
            key = (account, day)
            self.realized_pnl[key] = self.realized_pnl.get(key, Decimal(0)) + pnl
            oldest = trading_date() - timedelta(days=3)
            for stale in [k for k in self.realized_pnl if k[1] < oldest]:
                del self.realized_pnl[stale]

    def realized_today(self, account: str) -> Decimal:
        """Realized PnL of ``account`` on today's trading date."""
        return self.realized_pnl.get((account, trading_date()), Decimal(0))

    def halted(self, account: str, *, past_kill_switch: bool = False) -> str | None:
        """The halt reason that applies to ``account`` (global first), or None.

        ``past_kill_switch`` (a cancel-and-flatten closing order): the account's own halt only.
        """
        halts = self.halts
        if past_kill_switch:
            return halts.get(account)
        if not halts:
            return None
        return halts.get(GLOBAL) if GLOBAL in halts else halts.get(account)

    # --- decisions ----------------------------------------------------------------------------

    def admit(self, order, now: float, working: Decimal = Decimal(0)) -> Refusal | None:
        """Check an ``OrderPlace`` at monotonic time ``now``; None means send it (and it is counted).

        ``working``: the remaining quantity of the account's other working orders in the symbol on
        the same side, which max_position counts as if filled.
        """
        with self._lock:
            refusal = self._check(order.account, order.symbol, order.quantity, order, working=working)
            if refusal is None:
                refusal = check_quantity_increment(order)
            if refusal is not None:
                return refusal
            signature = (
                order.account,
                order.symbol,
                order.side,
                order.quantity,
                order.order_type,
                order.limit_price,
                order.stop_price,
            )
            previous = self._recent.get(signature)
            recent = previous is not None and now - previous[0] < DUPLICATE_WINDOW_S
            if recent and previous[1] == order.client_order_id:
                # The same order again (its record failed and the command was redelivered):
                # admitted and counted once, never its own duplicate.
                return None
            limits = self.limits.get(order.account)
            sent = self._sent.get(order.account)
            if sent is None:
                sent = self._sent[order.account] = deque()
            while sent and now - sent[0] >= RATE_WINDOW_S:
                sent.popleft()
            if limits is not None and limits.orders_per_minute is not None and len(sent) >= limits.orders_per_minute:
                return Refusal(
                    "risk.rate", f"more than {limits.orders_per_minute} orders in a minute for {order.account}"
                )
            if recent:
                return Refusal("risk.duplicate", "the same order was sent less than 2 s ago")
            if len(self._recent) > 10_000:
                self._recent = {k: v for k, v in self._recent.items() if now - v[0] < DUPLICATE_WINDOW_S}
            self._recent[signature] = (now, order.client_order_id)
            sent.append(now)
            return None

    def check_modify(
        self, account: str, symbol: str, side: str, quantity: Decimal, order, working: Decimal = Decimal(0)
    ) -> Refusal | None:
        """Check a modification's resulting quantity and prices (rate and duplicate rules do not apply)."""
        with self._lock:
            return self._check(account, symbol, quantity, order, side=side, working=working)

    def _check(
        self, account: str, symbol: str, quantity: Decimal, order, side: str | None = None, working=Decimal(0)
    ) -> Refusal | None:
        reason = self.halted(account, past_kill_switch=getattr(order, "past_kill_switch", False))
        if reason is not None:
            return Refusal("risk.halted", f"trading is halted: {reason}" if reason else "trading is halted")
        if account not in self.accounts:
            return Refusal("risk.unknown_account", f"account {account} is not managed by this TWS connection")
        limits = self.limits.get(account)
        if limits is None:
            if account in self.limit_errors:
                return Refusal(
                    "risk.no_limits", f"risk limits of {account} are unreadable: {self.limit_errors[account]}"
                )
            if self.require_limits:
                return Refusal("risk.no_limits", f"no risk limits are published for {account}")
            return None
        if limits.allowed_symbols and symbol not in limits.allowed_symbols:
            return Refusal("risk.symbol_not_allowed", f"{symbol} is not allowed for {account}")
        if limits.max_order_quantity is not None and quantity > limits.max_order_quantity:
            return Refusal("risk.max_quantity", f"quantity {quantity} is over the limit of {limits.max_order_quantity}")
        limit_price = order.limit_price
        stop_price = order.stop_price
        last = self.last_prices.get(symbol)
        if limits.max_order_notional is not None:
            price = limit_price or stop_price or last
            if price is None:
                return Refusal("risk.max_notional", f"no price to value a market order in {symbol} (no last price yet)")
            notional = quantity * price
            if notional > limits.max_order_notional:
                return Refusal(
                    "risk.max_notional", f"notional {notional:.2f} is over the limit of {limits.max_order_notional}"
                )
        if limits.price_collar_pct is not None and (limit_price is not None or stop_price is not None):
            if last is None:
                return Refusal("risk.price_collar", f"no last price for {symbol} to check the price collar against")
            for price in (limit_price, stop_price):
                if price is not None and abs(price - last) * 100 > limits.price_collar_pct * last:
                    return Refusal(
                        "risk.price_collar",
                        f"price {price} is more than {limits.price_collar_pct}% away from the last price {last}",
                    )
        if limits.max_position is not None:
            side = side or order.side
            current = self.positions.get((account, symbol), Decimal(0))
            exposure = quantity + working
            after = current + exposure if side == "BUY" else current - exposure
            if abs(after) > limits.max_position:
                return Refusal(
                    "risk.max_position", f"position would be {after}, over the limit of {limits.max_position}"
                )
        if limits.max_daily_loss is not None:
            pnl = self.realized_pnl.get((account, trading_date()), Decimal(0))
            if -pnl >= limits.max_daily_loss:
                return Refusal("risk.max_daily_loss", f"realized loss today {-pnl} has reached {limits.max_daily_loss}")
        return None
