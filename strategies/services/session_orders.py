"""A broker session's decisions become orders through the desk's order path, each recorded once, with why.

The runner calls ``session_order_place`` for each decision of a running broker session. The
decision's row and its order are written in one transaction under the session's lock, the order
under a client order id derived from (session, bar, action): a runner restarted at any point gets
the row already written, and never a second order. A refusal by the desk (kill switch, halt, risk
limit) is recorded as the decision's outcome with an alert, never lost.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction

from accounts.services import alert_raise, audit_record
from orders.models import Order, OrderSource, OrderType, Side
from orders.services import bracket_submit, order_submit
from strategies import sql
from strategies.engine.decisions import TARGET, Decision, decision_client_order_id, exit_distance, order_quantity
from strategies.exceptions import TradingSessionNotRunning
from strategies.models import SessionDecision, TradingSession
from strategies.services.session_flatten import session_net_position
from tradeconsole import db
from tradeconsole.exceptions import ApplicationError

Outcome = SessionDecision.Outcome
VIA = "runner"
_PRICE = Decimal("0.0001")


def session_order_place(*, session_id: int, decision: Decision, equity: Decimal | None = None) -> SessionDecision:
    """Act on ``decision`` for the broker session ``session_id``: place its order and record the decision.

    The decision is a target: "buy" long, "sell" short (each sized by its sizing with ``equity``,
    else the session's equity, else its starting equity, at the bar's close), "close" flat; the
    order is the difference from the session's net filled position (a reversal orders the position
    plus the new quantity). An entry with a stop-loss and a take-profit goes as a bracket; with one
    of them, as the entry and that exit attached to it (a trailing stop is not placed: the desk has
    no trailing order type, and the row says so). Outcomes: ``placed`` (with the order),
    ``limit`` (the target is beyond the session's ``max_position``: nothing placed), ``refused``
    (the desk refused the order, with its code, and an alert; or there was nothing to order).

    Exactly once per bar: a decision already recorded for the bar is returned unchanged. The
    row, its audit row and the order are one transaction (a refused order rolls back to a
    savepoint, so its refusal is committed); call it outside a transaction of your own, so
    the outcome is committed when it returns. The session is announced on commit.

    :raises TradingSessionNotRunning: the session is not running, not a broker session, or has no instrument.
    """
    with transaction.atomic():
        # Plain statements: on every bar of a broker session the ORM compiled them (~2 ms of CPU).
        session = sql.session_lock_for_order(session_id)
        existing = sql.session_decision_of_bar(session.pk, decision.bar_time)
        if existing is not None:
            return existing
        if (
            session.status != TradingSession.Status.RUNNING
            or session.mode != TradingSession.Mode.BROKER
            or session.instrument_id is None
        ):
            raise TradingSessionNotRunning(
                f"Session {session.pk} is {session.status}, in {session.mode} mode: it places no orders."
            )
        row = SessionDecision(
            session=session,
            bar_time=decision.bar_time,
            action=decision.action,
            node=decision.node[:100],
            price=_money(decision.close_price),
            values=decision.why or {},
        )
        _act(session, decision, equity, row)
        db.insert(row)
        audit_record(
            actor=None,
            action="trading_session.decision",
            obj=session,
            account=session.account,
            after={
                "bar_time": row.bar_time,
                "action": row.action,
                "outcome": row.outcome,
                "quantity": row.quantity,
                "order": row.order_id,
                "error_code": row.error_code,
            },
            via=VIA,
        )
        return row


def _act(session: TradingSession, decision: Decision, equity: Decimal | None, row: SessionDecision) -> None:
    """Fill in ``row``'s outcome, quantity, order and message: check the limit, then place (or record the refusal)."""
    current = session_net_position(session)
    target = _target(session, decision, equity)
    delta = target - current
    row.quantity = abs(delta)
    if session.max_position is not None and abs(target) > session.max_position:
        row.outcome, row.error_code = Outcome.LIMIT, "trading_session.max_position"
        row.message = (
            f"The {decision.action} would hold {abs(target):f} shares; "
            f"the session holds at most {session.max_position}."
        )
        return
    if not delta:
        row.outcome, row.error_code = Outcome.REFUSED, "trading_session.nothing_to_order"
        row.message = f"The session already holds {current:f} shares, the {decision.action}'s target: nothing to order."
        return
    try:
        row.order = _place(session, decision, current, target)
    except ApplicationError as exc:
        row.outcome, row.error_code, row.message = Outcome.REFUSED, exc.code[:64], str(exc.message)[:500]
        alert_raise(
            key=f"trading_session.refused:{session.pk}",
            kind="trading_session.order_refused",
            message=f"Session {session.pk} ({session.strategy.name}): the desk refused its {decision.action} "
            f"of {abs(delta):f} {session.instrument.symbol}: {exc.message}",
            account=session.account,
            data={"session": session.pk, "bar_time": decision.bar_time, "code": exc.code},
            renew=True,
        )
        return
    row.outcome = Outcome.PLACED
    if decision.trailing_stop and decision.action != "close":
        row.message = "The trailing stop is not placed at the broker: the desk has no trailing order type."


def _target(session: TradingSession, decision: Decision, equity: Decimal | None) -> Decimal:
    """The signed position ``decision`` aims at, in shares."""
    side = TARGET[decision.action]
    if not side:
        return Decimal(0)
    equity = next((e for e in (equity, session.equity, session.starting_equity) if e is not None), Decimal(0))
    shares = order_quantity(
        decision.sizing, decision.stop_loss, equity=float(equity), price=float(decision.close_price)
    )
    return Decimal(side * shares)


def _place(session: TradingSession, decision: Decision, current: Decimal, target: Decimal) -> Order:
    """Place the order (or orders) taking the position from ``current`` to ``target``; return the decision's order.

    A refusal leaves nothing of the decision's orders behind (the caller's transaction usable).

    :raises ApplicationError: any refusal of ``order_submit`` or ``bracket_submit``.
    """
    delta = target - current
    side = Side.BUY if delta > 0 else Side.SELL
    client_order_id = decision_client_order_id(session.pk, decision.bar_time, decision.action)
    exits = {role: spec for role in ("stop_loss", "take_profit") if (spec := getattr(decision, role))}
    reversal = current and target and (current > 0) != (target > 0)
    opening = target and (reversal or abs(target) > abs(current))
    if not exits or not opening:
        # One order and no savepoint (two statements fewer a bar): order_submit refuses before
        # it writes anything, and a refusal leaves the caller's transaction usable.
        return _market(session, side, abs(delta), client_order_id)
    # Several orders: a savepoint, so a refusal of a later one takes the earlier ones back.
    with transaction.atomic():
        quantity = abs(delta)
        if reversal:
            # The exits rest on the new position only: flatten the old one apart, then enter with them.
            flatten_id = decision_client_order_id(session.pk, decision.bar_time, f"{decision.action}:flatten")
            _market(session, side, abs(current), flatten_id)
            quantity = abs(target)
        return _enter_with_exits(session, decision, side, quantity, exits, client_order_id)


def _market(session: TradingSession, side: str, quantity: Decimal, client_order_id) -> Order:
    return order_submit(
        actor=None,
        account=session.account,
        instrument=session.instrument,
        side=side,
        quantity=quantity,
        order_type=OrderType.MARKET,
        tif="DAY",
        source=OrderSource.STRATEGY,
        trading_session=session,
        client_order_id=client_order_id,
        via=VIA,
    )


def _enter_with_exits(
    session: TradingSession, decision: Decision, side: str, quantity: Decimal, exits: dict, client_order_id
) -> Order:
    """A market entry with its stop-loss and take-profit as a bracket, or with the one exit attached."""
    prices = _exit_prices(session, decision, side, exits)
    ids = {role: decision_client_order_id(session.pk, decision.bar_time, f"{decision.action}:{role}") for role in exits}
    if len(prices) == 2:
        return bracket_submit(
            actor=None,
            account=session.account,
            instrument=session.instrument,
            side=side,
            quantity=quantity,
            order_type=OrderType.MARKET,
            take_profit_price=prices["take_profit"],
            stop_loss_price=prices["stop_loss"],
            tif="DAY",
            source=OrderSource.STRATEGY,
            trading_session=session,
            client_order_id=client_order_id,
            take_profit_client_order_id=ids["take_profit"],
            stop_loss_client_order_id=ids["stop_loss"],
            via=VIA,
        ).entry
    entry = _market(session, side, quantity, client_order_id)
    ((role, price),) = prices.items()
    order_submit(
        actor=None,
        account=session.account,
        instrument=session.instrument,
        side=Side.SELL if side == Side.BUY else Side.BUY,
        quantity=quantity,
        order_type=OrderType.STOP if role == "stop_loss" else OrderType.LIMIT,
        stop_price=price if role == "stop_loss" else None,
        limit_price=price if role == "take_profit" else None,
        tif="DAY",
        parent=entry,
        source=OrderSource.STRATEGY,
        trading_session=session,
        client_order_id=ids[role],
        via=VIA,
    )
    return entry


def _exit_prices(session: TradingSession, decision: Decision, side: str, exits: dict) -> dict[str, Decimal]:
    """Each exit's price from the bar's close (the fill is not known yet), on the instrument's tick.

    A stop-loss rests below a long's entry (above a short's), a take-profit the other way.
    """
    close = float(decision.close_price)
    direction = 1 if side == Side.BUY else -1
    tick = session.instrument.min_tick
    out = {}
    for role, spec in exits.items():
        sign = -direction if role == "stop_loss" else direction
        price = Decimal(repr(close + sign * exit_distance(spec, close)))
        out[role] = (price / tick).quantize(Decimal(1), rounding=ROUND_HALF_UP) * tick
    return out


def _money(value: float | None) -> Decimal | None:
    if value is None or value != value:
        return None
    return Decimal(repr(float(value))).quantize(_PRICE)


__all__ = ["session_order_place"]
