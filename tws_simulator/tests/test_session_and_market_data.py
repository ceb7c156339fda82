"""End to end: the real ibapi 9.81 EClient over a socket: the connection handshake, client ids, pacing and
market data."""

from __future__ import annotations

import time

from tws_simulator.tests.client import (
    connect,
    disconnect,
    error,
    stock,
)


def test_connect_sends_accounts_then_next_valid_id_then_farm_notices(clients):
    app = clients(3)
    names = [(n, a) for n, a in app.events[:5]]
    assert names[0] == ("managedAccounts", ("DU0000001",))
    assert names[1] == ("nextValidId", (1,))
    assert [a[1] for n, a in names[2:]] == [2104, 2106, 2158]


def test_market_data_streams_bid_ask_last_and_sizes_until_cancelled(make_sim):
    sim = make_sim(market_interval=0.02)
    app = connect(sim.port, 1)
    try:
        app.reqMktData(11, stock("AAPL"), "", False, False, [])
        app.wait_for(lambda e: e[0] == "marketDataType" and e[1] == (11, 1))
        for tick in (1, 2, 4):
            app.wait_for(lambda e, t=tick: e[0] == "tickPrice" and e[1][:2] == (11, t))
        for tick in (0, 3, 5, 8):
            app.wait_for(lambda e, t=tick: e[0] == "tickSize" and e[1][:2] == (11, t))
        app.wait_for(lambda e: e[0] == "tickString" and e[1][:2] == (11, 45))
        time.sleep(0.2)
        assert len([e for e in app.named("tickPrice") if e[1] == 1]) > 2  # streaming
        bids = [e[2] for e in app.named("tickPrice") if e[1] == 1]
        asks = [e[2] for e in app.named("tickPrice") if e[1] == 2]
        assert all(b < a for b, a in zip(bids, asks, strict=False))
        app.cancelMktData(11)
        time.sleep(0.1)
        count = len(app.named("tickPrice"))
        time.sleep(0.2)
        assert len(app.named("tickPrice")) == count
    finally:
        disconnect(app)


def test_a_snapshot_sends_one_round_then_snapshot_end(sim, app):
    app.reqMktData(12, stock("MSFT"), "", True, False, [])
    app.wait_for(lambda e: e[0] == "tickSnapshotEnd" and e[1] == (12,))
    assert len(app.named("tickPrice")) == 3


def test_market_data_for_an_unknown_symbol_is_200_and_a_duplicate_ticker_322(sim, app):
    app.reqMktData(13, stock("NOPE"), "", False, False, [])
    error(app, 200, 13)
    app.reqMktData(14, stock("AAPL"), "", False, False, [])
    app.reqMktData(14, stock("AAPL"), "", False, False, [])
    error(app, 322, 14)


def test_without_a_subscription_live_data_is_354_and_delayed_data_is_10167(make_sim):
    sim = make_sim(market_data_subscribed=False)
    app = connect(sim.port, 1)
    try:
        app.reqMktData(1, stock("AAPL"), "", False, False, [])
        error(app, 354, 1)
        app.reqMarketDataType(3)
        app.reqMktData(2, stock("AAPL"), "", False, False, [])
        error(app, 10167, 2)
        app.wait_for(lambda e: e[0] == "tickPrice" and e[1][:2] == (2, 66))
        app.wait_for(lambda e: e[0] == "tickSize" and e[1][:2] == (2, 69))
    finally:
        disconnect(app)


def test_current_time_and_managed_accounts_on_request(sim, app):
    app.reqCurrentTime()
    assert abs(app.wait_name("currentTime")[1][0] - time.time()) < 5
    mark = app.mark()
    app.reqManagedAccts()
    assert app.wait_name("managedAccounts", start=mark)[1] == ("DU0000001",)


def test_a_client_id_in_use_is_refused_with_326_and_closed(sim, clients):
    clients(4)
    second = connect(sim.port, 4, wait_ready=False)
    try:
        error(second, 326, -1)
        assert second.closed.wait(3)
        assert not second.named("nextValidId")
    finally:
        disconnect(second)


def test_more_than_fifty_messages_a_second_get_error_100(sim, app):
    for _ in range(80):
        app.reqCurrentTime()
    error(app, 100, -1)
    time.sleep(0.2)
    assert 45 <= len(app.named("currentTime")) <= 60


def test_a_client_connecting_with_paceapi_is_paced_not_refused(sim, clients):
    app = clients(1, options="+PACEAPI")
    started = time.monotonic()
    for _ in range(70):
        app.reqCurrentTime()
    app.wait_for(lambda e: len(app.named("currentTime")) >= 70, timeout=5.0)
    assert time.monotonic() - started >= 0.3  # the 20 over the burst took 20 ms each
    assert not [a for a in app.named("error") if a[1] == 100]


def test_a_client_that_keeps_breaking_the_pacing_limit_is_disconnected_when_configured(make_sim):
    sim = make_sim(pacing_disconnect_after=3)
    app = connect(sim.port, 1)
    try:
        for _ in range(60):
            try:
                app.reqCurrentTime()
            except (BrokenPipeError, ConnectionResetError):
                # Disconnected before ibapi's reader noticed: the outcome under test, reached early.
                break
        assert app.closed.wait(3)
        assert len([a for a in app.named("error") if a[1] == 100]) >= 1
    finally:
        disconnect(app)
