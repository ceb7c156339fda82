"""A modify that changes only the time in force: the simulator works the order under the new TIF and says so."""

from __future__ import annotations

from tws_simulator.tests.client import order, status, stock, wait_until


def test_a_modify_from_day_to_gtc_keeps_the_order_working_and_reports_gtc(sim, app):
    sim.control.set_price("AAPL", 100.0)
    day = order("BUY", 100, "LMT", 90.0, ref="tc-tif")
    day.tif = "DAY"
    app.placeOrder(1, stock("AAPL"), day)
    status(app, 1, "Submitted")
    assert app.order_objects[1].tif == "DAY"
    mark = app.mark()
    gtc = order("BUY", 100, "LMT", 90.0, ref="tc-tif")
    gtc.tif = "GTC"
    app.placeOrder(1, stock("AAPL"), gtc)
    wait_until(lambda: any(e[0] == "openOrder" for e in app.events[mark:]), what="the modify's openOrder")
    assert app.order_objects[1].tif == "GTC"
    assert app.order_objects[1].lmtPrice == 90.0
    assert not any(e[0] == "error" for e in app.events[mark:])
    assert [p["tif"] for p in sim.ledger.snapshot()["place_orders"] if p["order_ref"] == "tc-tif"] == ["DAY", "GTC"]
