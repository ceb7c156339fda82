"""Reads of orders, fills, positions and risk limits, scoped to the user's accounts (here, once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Case, DecimalField, F, QuerySet, Sum, When
from django.utils import timezone

from accounts.models import BrokerAccount, User
from accounts.selectors import accounts_for_user
from orders import sql
from orders.exceptions import InstrumentUnknown, OrderNotFound
from orders.models import Fill, Instrument, Order, Position, RiskLimit, Side
from orders.search import order_search
from orders.transitions import OPEN_STATUSES, WORKING_STATUSES
from tradeconsole import db

ZERO = Decimal("0")


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _account_filter(queryset: QuerySet, account: Any) -> QuerySet:
    if isinstance(account, BrokerAccount):
        return queryset.filter(account=account)
    # isascii too: str.isdigit takes "²", which int() refuses.
    if isinstance(account, int) or (isinstance(account, str) and account.isascii() and account.isdigit()):
        return queryset.filter(account_id=int(account))
    return queryset.filter(account__code=account)


def _date_filter(queryset: QuerySet, field: str, date_from: Any, date_to: Any) -> QuerySet:
    # Dates are the desk's local days (settings.TIME_ZONE); datetimes are taken as given.
    if date_from:
        start = date_from if isinstance(date_from, datetime) else _day_start(_as_date(date_from))
        queryset = queryset.filter(**{f"{field}__gte": start})
    if date_to:
        end = date_to if isinstance(date_to, datetime) else _day_start(_as_date(date_to) + timedelta(days=1))
        queryset = queryset.filter(**{f"{field}__lt" if not isinstance(date_to, datetime) else f"{field}__lte": end})
    return queryset


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def order_list(*, user: User, filters: dict | None = None) -> QuerySet[Order]:
    """Return the orders of ``user``'s accounts, newest first, narrowed by ``filters``.

    Filter keys: ``account`` (object, id or code), ``status`` (one or a list), ``open`` (True:
    not final), ``strategy`` (name or id), ``trading_session`` (id), ``source``, ``symbol``,
    ``side``, ``date_from`` / ``date_to`` (dates: local days, inclusive; datetimes: exact),
    ``search`` (words, ``orders.search.order_search``), ``basket`` (id).
    """
    filters = filters or {}
    queryset = Order.objects.select_related(
        "account", "instrument", "trading_session__strategy", "created_by", "parent"
    ).filter(account__in=accounts_for_user(user))
    if filters.get("account"):
        queryset = _account_filter(queryset, filters["account"])
    status = filters.get("status")
    if status:
        queryset = queryset.filter(status__in=[status] if isinstance(status, str) else list(status))
    if filters.get("open"):
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    strategy = filters.get("strategy")
    if strategy:
        if isinstance(strategy, int) or (str(strategy).isascii() and str(strategy).isdigit()):
            queryset = queryset.filter(trading_session__strategy_id=int(strategy))
        else:
            queryset = queryset.filter(trading_session__strategy__name=strategy)
    if filters.get("trading_session"):
        queryset = queryset.filter(trading_session_id=filters["trading_session"])
    if filters.get("source"):
        queryset = queryset.filter(source=filters["source"])
    if filters.get("symbol"):
        queryset = queryset.filter(instrument__symbol=str(filters["symbol"]).upper())
    if filters.get("side"):
        queryset = queryset.filter(side=filters["side"])
    if filters.get("search"):
        queryset = order_search(queryset, filters["search"])
    if filters.get("basket"):
        queryset = queryset.filter(basket_id=filters["basket"])
    return _date_filter(queryset, "created_at", filters.get("date_from"), filters.get("date_to"))


def order_get(*, user: User, client_order_id: Any = None, pk: int | None = None) -> Order:
    """Return one order of ``user``'s accounts by ``client_order_id`` or ``pk``.

    :raises OrderNotFound: no such order, or not on the user's accounts (the same answer, so
        the existence of other accounts' orders is not revealed).
    """
    queryset = order_list(user=user)
    try:
        if client_order_id is not None:
            return queryset.get(client_order_id=client_order_id)
        if pk is not None:
            return queryset.get(pk=pk)
    except (Order.DoesNotExist, ValueError, ValidationError):
        # ValueError / ValidationError: a malformed id names no order either.
        pass
    raise OrderNotFound()


def order_decision(order: Order):
    """The strategy decision that placed ``order`` (or its bracket's entry), or None; no query for a desk order.

    A ``strategies.SessionDecision``, reached through its ``order`` (``session_decisions``).
    """
    if not order.trading_session_id:
        return None
    placed = order.parent if order.parent_id else order
    return placed.session_decisions.order_by("-bar_time").first()


def position_list(*, user: User, account: Any = None, include_flat: bool = False) -> QuerySet[Position]:
    """Return the positions of ``user``'s accounts (optionally one account); flat ones only on request."""
    queryset = Position.objects.select_related("account", "instrument").filter(account__in=accounts_for_user(user))
    if account:
        queryset = _account_filter(queryset, account)
    if not include_flat:
        queryset = queryset.exclude(quantity=0)
    return queryset


def fill_list(
    *,
    user: User,
    account: Any = None,
    order: Order | None = None,
    instrument: Instrument | None = None,
    date_from: Any = None,
    date_to: Any = None,
) -> QuerySet[Fill]:
    """Return the fills of ``user``'s accounts, newest first, narrowed by the arguments."""
    queryset = Fill.objects.select_related("account", "instrument", "order").filter(account__in=accounts_for_user(user))
    if account:
        queryset = _account_filter(queryset, account)
    if order is not None:
        queryset = queryset.filter(order=order)
    if instrument is not None:
        queryset = queryset.filter(instrument=instrument)
    return _date_filter(queryset, "executed_at", date_from, date_to)


def instrument_get(*, symbol: str, sec_type: str = "STK", exchange: str = "SMART", currency: str = "USD") -> Instrument:
    """Return the instrument named ``symbol``.

    :raises InstrumentUnknown: no such instrument.
    """
    try:
        return Instrument.objects.get(symbol=symbol.upper(), sec_type=sec_type, exchange=exchange, currency=currency)
    except Instrument.DoesNotExist:
        raise InstrumentUnknown(f"No instrument {symbol!r}.", field="instrument")


def risk_limit_for_account(account: BrokerAccount) -> RiskLimit:
    """Return ``account``'s risk limits; an account without a row gets the model's defaults (unsaved).

    The defaults are deliberately conservative, so an account nobody configured is still limited.
    """
    return _limit_or_defaults(account, sql.risk_limit_of_account(account.pk))


def _limit_or_defaults(account: BrokerAccount, limit: RiskLimit | None) -> RiskLimit:
    # The account given is the limit's (one-to-one), so it is not read again.
    if limit is None:
        return RiskLimit(account=account)
    limit.account = account
    return limit


def allowed_symbols(limit: RiskLimit) -> list[str]:
    """Return the symbols ``limit`` allows; empty means every active instrument."""
    if limit.pk is None:
        return []
    return sorted(limit.allowed_instruments.values_list("symbol", flat=True))


def working_quantity(*, account: BrokerAccount, instrument: Instrument, side: str) -> Decimal:
    """Return the unfilled quantity of ``account``'s working orders on one side of ``instrument``.

    An order with a modify the broker has not confirmed counts at the larger of its two
    quantities, since the broker may already be working either.
    """
    rows = Order.objects.filter(
        account=account, instrument=instrument, side=side, status__in=WORKING_STATUSES
    ).aggregate(quantity=Sum(_AT_MOST), filled=Sum("filled_quantity"))
    return (rows["quantity"] or ZERO) - (rows["filled"] or ZERO)


# The quantity an order may come to: its own, or a larger one a pending modify asks for.
_AT_MOST = Case(
    When(pending_quantity__gt=F("quantity"), then=F("pending_quantity")),
    default=F("quantity"),
    output_field=DecimalField(max_digits=18, decimal_places=4),
)


def position_quantity(*, account: BrokerAccount, instrument: Instrument) -> Decimal:
    """Return the book's signed position of ``account`` in ``instrument`` (0 when none)."""
    quantity = Position.objects.filter(account=account, instrument=instrument).values_list("quantity", flat=True)
    return next(iter(quantity), ZERO)


def realized_pnl_today(*, account: BrokerAccount, now: datetime | None = None) -> Decimal:
    """Return ``account``'s realized PnL since the start of the desk's local day, net of commissions."""
    start = _day_start(timezone.localdate(now or timezone.now()))
    rows = Fill.objects.filter(account=account, executed_at__gte=start).aggregate(
        realized=Sum("realized_pnl"), commission=Sum("commission")
    )
    return (rows["realized"] or ZERO) - (rows["commission"] or ZERO)


def orders_in_last_minute(*, account: BrokerAccount, now: datetime | None = None) -> int:
    """Return how many orders were entered on ``account`` in the last 60 seconds."""
    since = (now or timezone.now()) - timedelta(seconds=60)
    return Order.objects.filter(account=account, created_at__gte=since).count()


@dataclass(frozen=True)
class OrderEntryExposure:
    """What the entry risk checks count, read together (see ``order_entry_exposure``)."""

    position: Decimal
    working: Decimal
    orders_last_minute: int
    realized_today: Decimal
    allowed_restricted: bool
    allowed_this: bool
    # The account's risk limits (``risk_limit_for_account``'s), read in the same statement.
    limits: RiskLimit


def _decimal(value: Any, places: int) -> Decimal:
    # A sum over no rows is NULL; numeric columns come back as Decimal.
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places))


def order_entry_exposure(
    *,
    account: BrokerAccount,
    instrument: Instrument,
    side: str,
    now: datetime | None = None,
) -> OrderEntryExposure:
    """Return, in one query, what ``order_submit``'s risk checks count for an order of ``side``.

    The same figures as ``position_quantity``, ``working_quantity``, ``orders_in_last_minute``,
    ``realized_pnl_today`` and the allowed list (those ORM reads are its test oracle), in one
    round trip instead of five (``sql.order_entry_exposure_row``): building the same statement
    through the ORM cost more CPU than the four round trips it saves. ``order_modify`` reads it
    too, so each risk rule is counted by this one statement. Read it after taking the account row lock
    (not in the locking statement: one that waited for the lock counts with its older snapshot).

    The account's risk limits are read in the same statement, as ``risk_limit_for_account``
    reads them, and returned in ``limits``.
    """
    now = now or timezone.now()
    row = sql.order_entry_exposure_row(
        account_id=account.pk,
        instrument_id=instrument.pk,
        side=side,
        working_statuses=sorted(str(status) for status in WORKING_STATUSES),
        minute_ago=now - timedelta(seconds=60),
        day_start=_day_start(timezone.localdate(now)),
    )
    width = len(RiskLimit._meta.concrete_fields)
    limits = _limit_or_defaults(account, db.from_row(RiskLimit, row) if row[0] is not None else None)
    position, working_total, recent, realized, commission, restricted, allowed = row[width:]
    return OrderEntryExposure(
        position=_decimal(position, 4),
        working=_decimal(working_total, 4),
        orders_last_minute=int(recent or 0),
        realized_today=_decimal(realized, 4) - _decimal(commission, 4),
        allowed_restricted=bool(restricted),
        allowed_this=bool(allowed),
        limits=limits,
    )


def open_orders(*, account: BrokerAccount | None = None) -> QuerySet[Order]:
    """Return the orders that are not final (optionally of one account), oldest first."""
    queryset = Order.objects.select_related("account", "instrument").filter(status__in=OPEN_STATUSES)
    if account is not None:
        queryset = queryset.filter(account=account)
    return queryset.order_by("created_at", "id")


def side_sign(side: str) -> int:
    """Return +1 for BUY and -1 for SELL."""
    return 1 if side == Side.BUY else -1


__all__ = [
    "allowed_symbols",
    "fill_list",
    "instrument_get",
    "open_orders",
    "order_entry_exposure",
    "order_get",
    "order_list",
    "orders_in_last_minute",
    "position_list",
    "position_quantity",
    "realized_pnl_today",
    "risk_limit_for_account",
    "working_quantity",
]
