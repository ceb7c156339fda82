"""End to end with the real ibapi 9.81 EClient: transmit chains, brackets, OCA groups and the drop fault."""

from __future__ import annotations

import time

import pytest

from tws_simulator.tests.client import order, status, stock, wait_gone


def index_of(app, name, order_id, wanted=None, start=0):
    """Index in ``app.events`` of the first ``name`` event of ``order_id`` (with status ``wanted``)."""
    for i, (n, a) in enumerate(app.events[start:], start):
        if n != name:
            continue
        if name == "execDetails" and a[2] == order_id:
            return i
        if name == "orderStatus" and a[0] == order_id and (wanted is None or a[1] == wanted):
            return i
        if name == "openOrder" and a[0] == order_id and (wanted is None or a[-1] == wanted):
            return i
    raise AssertionError(f"no {name} {wanted or ''} of order {order_id} in {app.events[start:][-12:]}")


def live(sim):
    """Statuses of the simulator's orders by orderId."""
    return {o["order_id"]: o["status"] for o in sim.control.state()["orders"]}


def place(app, order_id, action, qty, order_type="LMT", lmt=None, *, aux=None, parent=0, transmit=True, oca=""):
    o = order(action, qty, order_type, lmt, aux=aux)
    o.parentId = parent
    o.transmit = transmit
    if oca:
        o.ocaGroup, o.ocaType = oca
    app.placeOrder(order_id, stock("AAPL"), o)


def bracket(app, parent_id, *, entry=99.0, take=101.0, stop=95.0, qty=100, last_transmit=True):
    """A BUY bracket as IB documents it: parent and take-profit held, the stop-loss transmits all three."""
    place(app, parent_id, "BUY", qty, "LMT", entry, transmit=False)
    place(app, parent_id + 1, "SELL", qty, "LMT", take, parent=parent_id, transmit=False)
    place(app, parent_id + 2, "SELL", qty, "STP", aux=stop, parent=parent_id, transmit=last_transmit)


@pytest.fixture
def market(sim):
    sim.control.set_price("AAPL", 100.0)  # bid 99.99, ask 100.01
    return sim


def test_a_bracket_is_held_unreported_until_its_last_child_transmits_then_goes_out_parent_first(market, app):
    place(app, 1, "BUY", 100, "MKT", transmit=False)  # marketable: it would fill at once if it were working
    place(app, 2, "SELL", 100, "LMT", 101.0, parent=1, transmit=False)
    time.sleep(0.3)
    assert not [e for e in app.events if e[0] in ("openOrder", "orderStatus", "execDetails")]
    assert live(market) == {1: "Untransmitted", 2: "Untransmitted"}
    app.reqOpenOrders()
    app.wait_name("openOrderEnd")
    assert not app.named("openOrder")
    mark = app.mark()
    place(app, 3, "SELL", 100, "STP", aux=95.0, parent=1, transmit=True)
    status(app, 1, "Filled")
    status(app, 3, "Submitted")
    assert index_of(app, "openOrder", 1, start=mark) < index_of(app, "openOrder", 2, start=mark)
    assert index_of(app, "openOrder", 2, start=mark) < index_of(app, "openOrder", 3, start=mark)
    assert live(market) == {1: "Filled", 2: "Submitted", 3: "Submitted"}
    assert app.order_objects[3].parentId == 1


def test_children_wait_presubmitted_until_the_parent_fills_then_work(market, app):
    bracket(app, 1, entry=99.0, take=95.0, stop=90.0)  # a take-profit at 95 would fill at once if working
    status(app, 1, "Submitted")
    status(app, 2, "PreSubmitted")
    status(app, 3, "PreSubmitted")
    time.sleep(0.3)
    assert not app.named("execDetails")
    assert live(market) == {1: "Submitted", 2: "PreSubmitted", 3: "PreSubmitted"}
    mark = app.mark()
    market.control.set_price("AAPL", 98.9)  # the entry fills at the ask 98.91
    status(app, 1, "Filled", start=mark)
    status(app, 2, "Filled", start=mark)  # released: the 95 limit sells at the bid 98.89
    assert index_of(app, "orderStatus", 1, "Filled", mark) < index_of(app, "orderStatus", 2, "Submitted", mark)
    assert [e[2] for e in app.named("execDetails")] == [1, 2]


def test_a_child_fill_cancels_its_bracket_sibling_after_its_own_callbacks(market, app):
    bracket(app, 1, entry=100.5, take=101.0, stop=95.0)  # the entry is marketable
    status(app, 1, "Filled")
    status(app, 3, "Submitted")
    mark = app.mark()
    market.control.set_price("AAPL", 101.5)  # the take-profit sells at the bid 101.49
    status(app, 2, "Filled", start=mark)
    status(app, 3, "Cancelled", start=mark)
    app.wait_for(lambda e: e[0] == "error" and e[1][:2] == (3, 202), start=mark)
    assert index_of(app, "execDetails", 2, start=mark) < index_of(app, "orderStatus", 2, "Filled", mark)
    assert index_of(app, "orderStatus", 2, "Filled", mark) < index_of(app, "orderStatus", 3, "Cancelled", mark)
    market.control.set_price("AAPL", 90.0)  # the stop would have fired now
    time.sleep(0.2)
    assert [e[2] for e in app.named("execDetails")] == [1, 2]
    assert live(market)[3] == "Cancelled"


def test_cancelling_the_parent_cancels_its_children(market, app):
    bracket(app, 1)
    status(app, 3, "PreSubmitted")
    mark = app.mark()
    app.cancelOrder(1)
    status(app, 1, "Cancelled", start=mark)
    status(app, 2, "Cancelled", start=mark)
    status(app, 3, "Cancelled", start=mark)
    codes = sorted(e[1][0] for e in app.events[mark:] if e[0] == "error" and e[1][1] == 202)
    assert codes == [1, 2, 3]
    assert live(market) == {1: "Cancelled", 2: "Cancelled", 3: "Cancelled"}


def test_a_parent_cancelled_after_a_partial_fill_leaves_its_children_cut_to_the_filled_quantity(market, app):
    market.control.partially_fill_next_order(quantity=40)
    bracket(app, 1, entry=99.0, take=105.0, stop=90.0)
    status(app, 3, "Submitted")  # released for the 40 filled
    mark = app.mark()
    app.cancelOrder(1)
    status(app, 1, "Cancelled", start=mark)
    for child in (2, 3):
        app.wait_for(lambda e, c=child: e[0] == "openOrder" and e[1][0] == c and e[1][3] == 40.0, start=mark)
        assert status(app, child, "Submitted", start=mark)[1][2:4] == (0.0, 40.0)
    assert live(market) == {1: "Cancelled", 2: "Submitted", 3: "Submitted"}


def test_cancelling_a_held_chain_before_it_transmits_reports_it_api_cancelled(market, app):
    bracket(app, 1, last_transmit=False)
    app.cancelOrder(1)
    for order_id in (1, 2, 3):
        status(app, order_id, "ApiCancelled")
    assert live(market) == {1: "ApiCancelled", 2: "ApiCancelled", 3: "ApiCancelled"}


def oca_pair(app, oca_type, *, sizes=(100, 100)):
    place(app, 1, "SELL", sizes[0], "LMT", 105.0, oca=("g-1", oca_type))
    place(app, 2, "SELL", sizes[1], "LMT", 106.0, oca=("g-1", oca_type))
    status(app, 2, "Submitted")


def test_oca_type_1_cancels_the_rest_of_the_group_on_a_partial_fill(market, app):
    oca_pair(app, 1)
    assert (app.order_objects[1].ocaGroup, app.order_objects[1].ocaType) == ("g-1", 1)
    mark = app.mark()
    market.control.fill_order(client_id=1, order_id=1, quantity=30)
    status(app, 2, "Cancelled", start=mark)
    assert index_of(app, "execDetails", 1, start=mark) < index_of(app, "orderStatus", 2, "Cancelled", mark)
    assert live(market) == {1: "Submitted", 2: "Cancelled"}


def test_oca_type_2_reduces_the_rest_in_proportion_and_cancels_it_when_the_fill_completes(market, app):
    oca_pair(app, 2)
    mark = app.mark()
    market.control.fill_order(client_id=1, order_id=1, quantity=30)
    app.wait_for(lambda e: e[0] == "openOrder" and e[1][0] == 2 and e[1][3] == 70.0, start=mark)
    assert status(app, 2, "Submitted", start=mark)[1][2:4] == (0.0, 70.0)
    assert index_of(app, "execDetails", 1, start=mark) < index_of(app, "openOrder", 2, start=mark)
    assert app.order_objects[2].ocaType == 2
    market.control.fill_order(client_id=1, order_id=1)
    status(app, 2, "Cancelled", start=mark)
    assert live(market) == {1: "Filled", 2: "Cancelled"}


def test_oca_type_3_reduces_orders_of_other_sizes_in_proportion(market, app):
    oca_pair(app, 3, sizes=(100, 50))
    mark = app.mark()
    market.control.fill_order(client_id=1, order_id=2, quantity=20)  # 40% of its group's intent
    app.wait_for(lambda e: e[0] == "openOrder" and e[1][0] == 1 and e[1][3] == 60.0, start=mark)
    assert status(app, 1, "Submitted", start=mark)[1][2:4] == (0.0, 60.0)
    assert app.order_objects[1].ocaType == 3


def test_an_oca_group_without_a_type_is_tws_default_type_3(market, app):
    oca_pair(app, 0)
    assert app.order_objects[1].ocaType == 3
    mark = app.mark()
    market.control.fill_order(client_id=1, order_id=1, quantity=10)
    app.wait_for(lambda e: e[0] == "openOrder" and e[1][0] == 2 and e[1][3] == 90.0, start=mark)


def test_a_drop_in_the_middle_of_a_chain_leaves_nothing_of_it_working(market, clients):
    app = clients(1)
    market.control.drop_mid_chain(after=2, client_id=1)
    bracket(app, 1, entry=100.5)  # the entry would fill at once
    assert app.closed.wait(3)
    wait_gone(market, 1)
    assert live(market) == {}
    assert [p["order_id"] for p in market.control.ledger()["place_orders"]] in ([1, 2], [1, 2, 3])
    again = clients(1)
    assert again.next_id == 3  # the ids the discarded orders used stay used
    again.reqOpenOrders()
    again.wait_name("openOrderEnd")
    assert not again.named("openOrder")
    market.control.set_price("AAPL", 90.0)
    time.sleep(0.2)
    assert not again.named("execDetails") and market.control.state()["positions"] == []


def test_drop_after_orders_counts_every_place_order_of_that_client(market, clients):
    other = clients(2)
    app = clients(1)
    market.control.drop_after_orders(count=2, client_id=1)
    place(other, 1, "BUY", 1, "LMT", 90.0)
    place(app, 1, "BUY", 1, "LMT", 90.0)
    status(app, 1, "Submitted")
    assert not app.closed.is_set()
    place(app, 2, "BUY", 1, "LMT", 90.0)
    assert app.closed.wait(3)
    assert not other.closed.is_set()
