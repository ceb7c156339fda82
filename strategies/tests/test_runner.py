"""The strategy runner on real PostgreSQL and Redis: forward tests decide on closed bars from the stream,
exactly once across a restart, on their leases, within their limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from accounts.models import Alert
from marketdata.tests.stored_bars import store_history_bars
from strategies.backtest.fees import FeeModel
from strategies.backtest.simulator import Simulator
from strategies.engine import compile_graph
from strategies.engine.evaluator import Evaluator
from strategies.models import SessionDecision, SessionEquityPoint, SessionFill, TradingSession
from strategies.runtime.live_session import LiveSession
from strategies.tests.runner_helpers import (
    LIVE,
    WARM,
    at,
    broker_ready,
    drain,
    feed_live,
    reference,
    runner,
    running_session,
    send_closed,
)

pytestmark = pytest.mark.django_db(transaction=True)


def recorded(session):
    decisions = list(
        SessionDecision.objects.filter(session=session).order_by("bar_time").values_list("bar_time", "action")
    )
    fills = [
        (int(f.time.timestamp()), f.side, f.quantity, round(float(f.price), 4))
        for f in SessionFill.objects.filter(session=session).order_by("time", "id")
    ]
    return decisions, fills


def test_a_forward_test_decides_on_each_closed_bar_as_the_evaluator_does_in_memory(
    redis_client, ema_version, account, aapl, walk
):
    store_history_bars(aapl, walk[:WARM])
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl)
        made = runner(redis_client)
        drain(made)
        assert list(made.live) == [session.pk]
        feed_live(redis_client, made, aapl, walk[WARM:], clock)

    decisions, fills, equity = reference(ema_version, walk, WARM)
    assert decisions, "the walk must make the strategy trade"
    assert recorded(session) == (decisions, fills)
    session.refresh_from_db()
    assert session.last_bar_time == walk[-1].time
    assert float(session.equity) == pytest.approx(equity, abs=1e-4)
    assert SessionEquityPoint.objects.filter(session=session).count() == LIVE
    assert set(SessionDecision.objects.filter(session=session).values_list("outcome", flat=True)) == {"pending"}
    # Every decision says why: the trigger's node and the values above it.
    assert all(d.values for d in SessionDecision.objects.filter(session=session))


def test_the_forward_test_fills_like_the_backtester_from_a_flat_start(ema_version, walk):
    """Started before any bar, the live step and the backtester's simulator make the same trades."""
    plan = compile_graph(ema_version.graph)
    live = LiveSession(session_id=0, mode="forward", plan=plan, symbol="AAPL", resolution="1", starting_equity=1e5)
    live.warm_up([], None)
    fills = [f for b in walk for f in live.on_bar(b).fills]

    evaluator, sim = Evaluator(plan, "AAPL"), Simulator("AAPL", cash=1e5, fees=FeeModel("fixed"))
    by_time = {d.bar_time: d for d in evaluator.catch_up(walk)}
    sim.run(
        [b.time for b in walk],
        *([float(getattr(b, k)) for b in walk] for k in ("open", "high", "low", "close")),
        by_time,
    )
    expected = [(t.entry_time, t.entry_price) for t in sim.trades] + (
        [(sim.open_trade.entry_time, sim.open_trade.entry_price)] if sim.open_trade else []
    )
    assert [(f.time, f.price) for f in fills if f.reason == "entry"] == expected
    assert live.simulator.cash == pytest.approx(sim.cash)


def test_a_runner_killed_between_bars_resumes_from_postgresql_without_repeating_or_skipping(
    redis_client, ema_version, account, aapl, walk
):
    store_history_bars(aapl, walk[:WARM])
    half = WARM + LIVE // 2
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl)
        first = runner(redis_client, "first")
        drain(first)
        feed_live(redis_client, first, aapl, walk[WARM:half], clock)
        # The first runner dies without a word; its lease expires; bars go on being stored meanwhile.
        send_closed(redis_client, aapl, walk[half : half + 1])
        TradingSession.objects.filter(pk=session.pk).update(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        second = runner(redis_client, "second")
        drain(second)  # takes the session, warms up, catches up on the missed bar from PostgreSQL
        feed_live(redis_client, second, aapl, walk[half + 1 :], clock)
        # The first runner wakes up and tries to record a bar it had in flight: refused, lease gone.
        first.refresh()
        assert first.live == {}

    decisions, fills, _ = reference(ema_version, walk, WARM)
    assert recorded(session) == (decisions, fills)
    assert SessionEquityPoint.objects.filter(session=session).count() == LIVE


def test_two_runners_never_hold_one_session_and_a_dead_ones_sessions_move_on(
    redis_client, ema_version, account, aapl, walk
):
    store_history_bars(aapl, walk[:WARM])
    one, two = runner(redis_client, "one", capacity=2), runner(redis_client, "two", capacity=5)
    with time_machine.travel(at(walk[WARM - 1]), tick=True):
        sessions = [running_session(ema_version, account, aapl) for _ in range(3)]
        one.refresh()
        two.refresh()
        assert len(one.live) == 2 and len(two.live) == 1
        assert not set(one.live) & set(two.live)
        TradingSession.objects.filter(lease_owner="one").update(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        two.refresh()
        assert set(two.live) == {s.pk for s in sessions}
        one.refresh()
        assert one.live == {}


def test_a_paused_session_is_dropped_at_the_next_round_and_decides_again_from_its_resume(
    redis_client, ema_version, account, aapl, walk
):
    store_history_bars(aapl, walk[:WARM])
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl)
        made = runner(redis_client)
        drain(made)
        TradingSession.objects.filter(pk=session.pk).update(status=TradingSession.Status.PAUSED)
        feed_live(redis_client, made, aapl, walk[WARM : WARM + 5], clock)
        assert made.live == {}
        TradingSession.objects.filter(pk=session.pk).update(
            status=TradingSession.Status.RUNNING, running_since=at(walk[WARM + 4])
        )
        drain(made)
        session.refresh_from_db()
        # The bars of the pause are the strategy's history, not decisions made late.
        assert session.last_bar_time is None
        feed_live(redis_client, made, aapl, walk[WARM + 5 : WARM + 7], clock)
    session.refresh_from_db()
    assert session.last_bar_time == walk[WARM + 6].time
    assert list(SessionEquityPoint.objects.filter(session=session).values_list("bar_time", flat=True)) == [
        walk[WARM + 5].time,
        walk[WARM + 6].time,
    ]


def test_a_bar_older_than_the_bound_is_read_but_not_acted_on_with_an_alert(
    redis_client, ema_version, account, aapl, walk
):
    store_history_bars(aapl, walk[:WARM])
    first = next(r.bar_time for r in [*_results(ema_version, walk)] if r.decision is not None)
    index = next(i for i, b in enumerate(walk) if b.time == first)
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl)
        made = runner(redis_client)
        drain(made)
        feed_live(redis_client, made, aapl, walk[WARM:index], clock)
        # The deciding bar arrives two and a half minutes late (the market data is not yet quiet).
        clock.move_to(datetime.fromtimestamp(walk[index].time + 60 + 150, tz=UTC))
        send_closed(redis_client, aapl, [walk[index]])
        drain(made)
    decision = SessionDecision.objects.get(session=session, bar_time=first)
    assert decision.outcome == "stale"
    assert SessionFill.objects.filter(session=session).count() == 0
    assert Alert.objects.filter(key=f"trading_session.stale_bar:{session.pk}").exists()


def _results(version, walk):
    live = LiveSession(
        session_id=0,
        mode="forward",
        plan=compile_graph(version.graph),
        symbol="AAPL",
        resolution="1",
        starting_equity=1e5,
    )
    live.warm_up(walk[:WARM], None)
    return [live.on_bar(b) for b in walk[WARM:]]


def test_a_strategy_that_raises_stops_its_session_with_an_alert_and_the_others_go_on(
    redis_client, ema_version, account, aapl, walk, monkeypatch
):
    store_history_bars(aapl, walk[:WARM])
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        bad, good = running_session(ema_version, account, aapl), running_session(ema_version, account, aapl)
        made = runner(redis_client)
        drain(made)
        broken = made.live[bad.pk]

        def boom(bar, **kwargs):
            raise ZeroDivisionError("a node divided by zero")

        monkeypatch.setattr(broken, "on_bar", boom)
        feed_live(redis_client, made, aapl, walk[WARM : WARM + 3], clock)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert (bad.status, bad.status_reason) == ("stopped", "evaluation_error")
    assert Alert.objects.filter(key=f"trading_session.evaluation_error:{bad.pk}", severity="critical").exists()
    assert good.status == "running" and good.last_bar_time == walk[WARM + 2].time


def test_a_forward_test_stopped_with_flatten_closes_its_position_once_and_the_runner_lets_go(
    redis_client, ema_version, account, aapl, walk
):
    from strategies.services import trading_session_stop

    store_history_bars(aapl, walk[:WARM])
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl)
        made = runner(redis_client)
        drain(made)
        for bar in walk[WARM:]:
            feed_live(redis_client, made, aapl, [bar], clock)
            session.refresh_from_db()
            if session.state["sim"]["side"]:
                break
        else:
            pytest.fail("the strategy never took a position")
        last = session.last_bar_time
        aapl.last_price = walk[walk.index(bar)].close
        aapl.save(update_fields=["last_price"])
        trading_session_stop(session=session, actor=None, via="test", reason="end of test", flatten=True)
        feed_live(redis_client, made, aapl, walk[walk.index(bar) + 1 : walk.index(bar) + 3], clock)
    session.refresh_from_db()
    flatten = SessionFill.objects.get(session=session, reason="flatten")
    assert flatten.price == pytest.approx(aapl.last_price)
    assert (session.state["sim"]["side"], session.state["flattened"]) == (0, True)
    assert session.last_bar_time == last and made.live == {}
    assert float(session.realized_pnl) == pytest.approx(float(session.equity) - 100000, abs=1e-3)


def test_a_broker_session_places_each_decision_once_and_marks_its_equity_from_its_fills(
    redis_client, ema_version, account, aapl, walk
):
    from orders.models import Order
    from orders.tests.factories import FillFactory
    from strategies.engine.decisions import decision_client_order_id

    decisions, first = broker_ready(ema_version, aapl, walk)
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl, mode=TradingSession.Mode.BROKER)
        made = runner(redis_client)
        drain(made)
        feed_live(redis_client, made, aapl, walk[WARM : first + 1], clock)
        order = SessionDecision.objects.get(session=session).order
        assert order.client_order_id == decision_client_order_id(session.pk, decisions[0][0], decisions[0][1])
        placed = Order.objects.filter(trading_session=session).count()  # the entry and its resting exits
        # The broker fills it; the next bar marks the session's equity from that fill.
        side = 1 if order.side == "BUY" else -1
        FillFactory(order=order, account=account, instrument=aapl, side=order.side, quantity=order.quantity,
                    price=walk[first + 1].open, commission=1)  # fmt: skip
        feed_live(redis_client, made, aapl, walk[first + 1 : first + 2], clock)
        # The bar replayed (a runner restarted mid-batch) places nothing more.
        made.live[session.pk].last_bar_time = walk[first - 1].time
        send_closed(redis_client, aapl, [])
        made.on_bars([walk[first]])
    session.refresh_from_db()
    mark = float(walk[first + 1].close) - float(walk[first + 1].open)
    expected = 100000 + side * float(order.quantity) * mark
    assert float(session.equity) == pytest.approx(expected, abs=1e-3)
    assert float(session.unrealized_pnl) == pytest.approx(expected - 100000, abs=1e-3)
    assert Order.objects.filter(trading_session=session).count() == placed
    assert SessionDecision.objects.filter(session=session).count() == 1


def test_a_decision_beyond_the_sessions_max_position_is_recorded_as_limit_and_not_filled(
    redis_client, ema_version, account, aapl, walk
):
    store_history_bars(aapl, walk[:WARM])
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl, max_position=10)  # the template buys 100
        made = runner(redis_client)
        drain(made)
        feed_live(redis_client, made, aapl, walk[WARM:], clock)
    outcomes = set(SessionDecision.objects.filter(session=session).values_list("action", "outcome"))
    assert ("buy", "limit") in outcomes
    assert not SessionFill.objects.filter(session=session, side="BUY").exists()


def test_a_forward_test_that_loses_its_daily_limit_pauses_itself_with_an_alert(
    redis_client, ema_version, account, aapl, walk
):
    store_history_bars(aapl, walk[:WARM])
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl, max_daily_loss="0.01", fee_model="fixed")
        made = runner(redis_client)
        drain(made)
        for bar in walk[WARM:]:
            feed_live(redis_client, made, aapl, [bar], clock)
            session.refresh_from_db()
            if session.status != "running":
                break
    assert (session.status, session.status_reason) == ("paused", "max_daily_loss")
    # A fill's commission alone loses more than a cent: the session paused on the bar it traded.
    assert float(session.equity) - 100000 <= -0.01
    assert Alert.objects.filter(key=f"trading_session.max_daily_loss:{session.pk}").exists()
    assert made.live == {}


def test_a_bar_the_stream_never_carried_is_read_from_postgresql_before_the_next(
    redis_client, ema_version, account, aapl, walk
):
    store_history_bars(aapl, walk[:WARM])
    with time_machine.travel(at(walk[WARM - 1]), tick=True) as clock:
        session = running_session(ema_version, account, aapl)
        made = runner(redis_client)
        drain(made)
        feed_live(redis_client, made, aapl, walk[WARM : WARM + 3], clock)
        store_history_bars(aapl, [walk[WARM + 3]])  # stored, never announced (Redis away a moment)
        feed_live(redis_client, made, aapl, walk[WARM + 4 : WARM + 6], clock)
    points = list(SessionEquityPoint.objects.filter(session=session).values_list("bar_time", flat=True))
    assert points == [b.time for b in walk[WARM : WARM + 6]]
