"""A broker session's decisions become the desk's orders, once each, with why; refusals and limits are recorded."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Alert, AuditLog, OutboxMessage
from accounts.services import kill_switch_engage
from orders.models import Order, OrderStatus
from orders.tests.factories import OrderFactory
from orders.tests.helpers import buy
from strategies.engine import compile_graph, run_history
from strategies.engine.decisions import Decision, decision_client_order_id
from strategies.engine.tests.helpers import template, walk_bars
from strategies.exceptions import TradingSessionNotRunning
from strategies.models import SessionDecision
from strategies.services import session_order_place
from strategies.tests.factories import TradingSessionFactory

pytestmark = pytest.mark.django_db

# A real decision of the EMA crossover (buy 100, stop-loss 2%), with its why.
EMA_BUY = next(d for d in run_history(compile_graph(template("ema_crossover")), walk_bars(3000, seed=3)))


def plain(action="buy", *, bar_time=1_772_461_800, quantity=100, close=100.37, **more) -> Decision:
    """A decision without exits: ``action`` of ``quantity`` shares on the bar at ``bar_time``."""
    sizing = {"kind": "fixed_quantity", "quantity": quantity} if action != "close" else None
    return Decision(
        action=action,
        symbol="AAPL",
        bar_time=bar_time,
        node=action,
        sizing=sizing,
        quantity=quantity if action != "close" else None,
        close_price=close,
        why={"up": {"type": "crossover", "outputs": {"result": True}}},
        **more,
    )


@pytest.fixture
def session(account, instrument):
    return TradingSessionFactory(
        account=account,
        instrument=instrument,
        status="running",
        mode="broker",
        strategy__name="ema-cross",
        starting_equity=Decimal("100000"),
    )


def place(session, decision, **kwargs) -> SessionDecision:
    return session_order_place(session_id=session.pk, decision=decision, **kwargs)


def places() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(type="order.place").order_by("id"))


def test_a_buy_decision_places_one_market_order_under_its_derived_id_and_keeps_why(session, account, instrument):
    decision = plain()
    row = place(session, decision)

    order = Order.objects.get()
    assert row.outcome == "placed" and row.order == order and row.error_code == ""
    assert order.client_order_id == decision_client_order_id(session.pk, decision.bar_time, "buy")
    assert (order.source, order.trading_session, order.side, order.quantity, order.order_type, order.tif) == (
        "strategy",
        session,
        "BUY",
        Decimal("100"),
        "MKT",
        "DAY",
    )
    assert order.status == OrderStatus.NEW
    (command,) = places()
    assert command.data["client_order_id"] == str(order.client_order_id)
    assert (command.data["source"], command.data["strategy"]) == ("strategy", "ema-cross")
    assert (row.bar_time, row.action, row.node, row.quantity, row.price) == (
        decision.bar_time,
        "buy",
        "buy",
        Decimal("100"),
        Decimal("100.3700"),
    )
    assert row.values == decision.why
    audit = AuditLog.objects.get(action="trading_session.decision")
    assert (audit.actor, audit.object_id, audit.after["outcome"], audit.after["order"]) == (
        None,
        str(session.pk),
        "placed",
        order.pk,
    )


def test_the_same_decision_twice_is_one_row_and_one_order(session):
    first = place(session, plain())
    again = place(session, plain())

    assert again.pk == first.pk and again.outcome == "placed"
    assert Order.objects.count() == 1 and len(places()) == 1
    assert SessionDecision.objects.count() == 1
    assert AuditLog.objects.filter(action="trading_session.decision").count() == 1


def test_with_the_kill_switch_engaged_the_decision_is_refused_with_an_alert_and_no_order(session, account):
    kill_switch_engage(actor=None, reason="Runaway strategy", via="test")

    row = place(session, plain())

    assert (row.outcome, row.error_code, row.order) == ("refused", "desk.halted", None)
    assert row.message and row.quantity == Decimal("100")
    assert not Order.objects.exists() and not places()
    alert = Alert.objects.get(key=f"trading_session.refused:{session.pk}")
    assert (alert.kind, alert.account, alert.data["code"]) == ("trading_session.order_refused", account, "desk.halted")
    assert SessionDecision.objects.get().pk == row.pk
    assert AuditLog.objects.get(action="trading_session.decision").after["outcome"] == "refused"


def test_a_second_refusal_renews_the_sessions_one_alert(session):
    kill_switch_engage(actor=None, reason="Runaway strategy", via="test")
    place(session, plain(bar_time=1_772_461_800))
    place(session, plain("sell", bar_time=1_772_461_860))

    alert = Alert.objects.get(key=f"trading_session.refused:{session.pk}")
    assert alert.data["bar_time"] == 1_772_461_860 and "sell" in alert.message
    assert SessionDecision.objects.filter(outcome="refused").count() == 2


def test_a_target_beyond_the_sessions_max_position_is_recorded_as_limit_and_not_placed(session):
    session.max_position = 50
    session.save(update_fields=["max_position"])

    row = place(session, plain(quantity=100))

    assert (row.outcome, row.error_code, row.order) == ("limit", "trading_session.max_position", None)
    assert "50" in row.message
    assert not Order.objects.exists() and not places() and not Alert.objects.exists()


def test_a_close_sells_the_net_filled_position(session, account, instrument):
    entry = place(session, plain(quantity=100)).order
    buy(account, instrument, 60, "100.40", order=entry)
    buy(account, instrument, 40, "100.45", order=entry)

    row = place(session, plain("close", bar_time=1_772_462_400))

    assert row.outcome == "placed" and row.quantity == Decimal("100")
    close = row.order
    assert (close.side, close.quantity, close.order_type, close.trading_session) == (
        "SELL",
        Decimal("100"),
        "MKT",
        session,
    )
    assert close.client_order_id == decision_client_order_id(session.pk, 1_772_462_400, "close")


def test_a_close_with_nothing_filled_orders_nothing(session):
    row = place(session, plain("close"))

    assert (row.outcome, row.error_code, row.order) == ("refused", "trading_session.nothing_to_order", None)
    assert not Order.objects.exists() and not Alert.objects.exists()


def test_a_sell_while_long_reverses_with_the_position_plus_the_new_quantity(session, account, instrument):
    entry = place(session, plain(quantity=100)).order
    buy(account, instrument, 100, "100.40", order=entry)

    row = place(session, plain("sell", bar_time=1_772_462_400, quantity=30))

    assert (row.order.side, row.order.quantity) == ("SELL", Decimal("130"))


def test_a_percent_of_equity_entry_is_sized_from_the_equity_at_the_bars_close(session):
    decision = dataclasses.replace(plain(), sizing={"kind": "percent_of_equity", "percent": 10.0}, quantity=None)

    row = place(session, decision, equity=Decimal("25000"))

    # floor(25,000 * 10% / 100.37) = 24
    assert row.order.quantity == Decimal("24") == row.quantity


def test_an_entry_with_a_stop_loss_and_a_take_profit_goes_as_a_bracket_on_the_tick(session):
    decision = plain(
        stop_loss={"mode": "percent", "percent": 2.0}, take_profit={"mode": "percent", "percent": 3.0}, close=100.37
    )

    row = place(session, decision)

    entry = row.order
    take, stop = entry.children.get(order_type="LMT"), entry.children.get(order_type="STP")
    # 100.37 - 2% = 98.3626 and 100.37 + 3% = 103.3811, on the 0.01 tick.
    assert (stop.side, stop.stop_price, stop.quantity) == ("SELL", Decimal("98.36"), Decimal("100"))
    assert (take.side, take.limit_price, take.quantity) == ("SELL", Decimal("103.38"), Decimal("100"))
    assert {o.trading_session_id for o in (entry, take, stop)} == {session.pk}
    assert entry.order_type == "MKT" and entry.client_order_id == decision_client_order_id(
        session.pk, decision.bar_time, "buy"
    )
    (command,) = places()
    assert [c["order_type"] for c in command.data["children"]] == ["LMT", "STP"]


def test_a_bracket_whose_exit_the_desk_refuses_leaves_no_order_and_the_refusal_recorded(session):
    # The take-profit 8% above is beyond the 5% price collar: refused after the entry was written.
    decision = plain(
        stop_loss={"mode": "percent", "percent": 2.0}, take_profit={"mode": "percent", "percent": 8.0}, close=100.0
    )

    row = place(session, decision)

    assert (row.outcome, row.error_code, row.order) == ("refused", "risk.price_collar", None)
    assert not Order.objects.exists() and not places()
    assert (
        SessionDecision.objects.get().pk == row.pk
        and Alert.objects.filter(kind="trading_session.order_refused").exists()
    )


def test_an_entry_with_only_a_stop_loss_attaches_the_stop_to_it(session):
    row = place(session, EMA_BUY)

    entry = row.order
    stop = entry.children.get()
    expected = (Decimal(repr(EMA_BUY.close_price)) * Decimal("0.98")).quantize(Decimal("0.01"))
    assert (stop.order_type, stop.side, stop.quantity, stop.stop_price) == ("STP", "SELL", Decimal("100"), expected)
    assert stop.trading_session == session
    assert [c.data["client_order_id"] for c in places()] == [str(entry.client_order_id), str(stop.client_order_id)]
    assert row.values == EMA_BUY.why and set(row.values) >= {"up", "fast", "slow"}


@pytest.mark.parametrize(("status", "mode"), [("paused", "broker"), ("stopped", "broker"), ("running", "forward")])
def test_a_session_that_is_not_a_running_broker_session_places_nothing(session, status, mode):
    session.status, session.mode = status, mode
    session.save(update_fields=["status", "mode"])

    with pytest.raises(TradingSessionNotRunning) as refused:
        place(session, plain())

    assert refused.value.code == "trading_session.not_running"
    assert not SessionDecision.objects.exists() and not Order.objects.exists()


def test_the_orders_admin_page_shows_the_decision_and_its_values(client, trader, session):
    row = place(session, EMA_BUY)
    client.force_login(trader)

    page = client.get(reverse("admin:orders_order_change", args=[row.order.pk])).content.decode()

    assert "Strategy decision" in page
    assert reverse("admin:strategies_tradingsession_change", args=[session.pk]) in page
    assert f"({EMA_BUY.bar_time})" in page and "by node <code>buy</code>" in page
    fast = EMA_BUY.why["fast"]["outputs"]["value"]
    assert f"<tr><td><code>fast</code></td><td>ema</td><td>value</td><td>{fast:.4f}".rstrip("0") in page
    assert "<tr><td><code>up</code></td><td>crossover</td><td>result</td><td>true</td></tr>" in page
    assert "<td>kind=fixed_quantity, quantity=100</td>" in page
    # The stop attached to the entry shows the entry's decision too.
    child = client.get(reverse("admin:orders_order_change", args=[row.order.children.get().pk])).content.decode()
    assert "<tr><td><code>up</code></td><td>crossover</td>" in child


def test_a_desk_orders_admin_page_has_no_decision(client, trader, account, instrument):
    order = OrderFactory(account=account, instrument=instrument)
    client.force_login(trader)

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()

    assert order.client_order_id.hex[:8] in page and "Strategy decision" not in page


def test_the_order_api_gives_the_decision_that_placed_it(api_client, trader, session, account, instrument):
    row = place(session, EMA_BUY)
    desk_order = OrderFactory(account=account, instrument=instrument)
    api_client.force_authenticate(trader)

    body = api_client.get(reverse("api-v1:order-detail", args=[row.order.client_order_id])).json()
    plain_body = api_client.get(reverse("api-v1:order-detail", args=[desk_order.client_order_id])).json()

    assert body["decision"] == {
        "session": session.pk,
        "bar_time": EMA_BUY.bar_time,
        "action": "buy",
        "node": "buy",
        "outcome": "placed",
        "values": EMA_BUY.why,
    }
    assert body["decision"]["values"]["slow"]["outputs"]["value"] == pytest.approx(
        EMA_BUY.why["slow"]["outputs"]["value"]
    )
    assert plain_body["decision"] is None
