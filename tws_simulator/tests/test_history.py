"""reqHistoricalData, keepUpToDate and reqRealTimeBars through the real ibapi client, on a pinned clock.

The clock is pinned (time-machine, not ticking) to Tuesday 2026-03-10 11:00 New York (15:00 UTC), in
regular trading hours; the simulator reads it for quotes, bars and pacing.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
import time_machine

from tws_simulator.tests.client import connect, disconnect, stock

NOW = dt.datetime(2026, 3, 10, 15, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def hist(clock, make_sim):
    """A simulator (bars served by hand: no bar timer) and a connected client, on the pinned clock."""
    sim = make_sim(bar_interval=0)
    app = connect(sim.port, 7)
    yield sim, app
    disconnect(app)


def history(app, req_id, duration, bar_size, *, what="TRADES", rth=1, fmt=1, end="", symbol="AAPL", live=False):
    """Ask for history and return (bars, end marker); each bar is (date, open, high, low, close, volume, wap)."""
    start = app.mark()
    app.reqHistoricalData(req_id, stock(symbol), end, duration, bar_size, what, rth, fmt, live, [])
    done = app.wait_for(lambda e: e[0] in ("historicalDataEnd", "error") and e[1][0] == req_id, 10, start)
    assert done[0] == "historicalDataEnd", done
    bars = [args[1:] for name, args in app.events[start:] if name == "historicalData" and args[0] == req_id]
    return bars, done[1]


def refused(app, req_id, code, start):
    """The error ``code`` for ``req_id``, sent after ``start``; no bars came with it."""
    err = app.wait_for(lambda e: e[0] == "error" and e[1][0] == req_id, 10, start)
    assert err[1][1] == code, err
    assert not [a for n, a in app.events[start:] if n in ("historicalData", "historicalDataEnd") and a[0] == req_id]
    return err[1][2]


def serve_bars(sim, app):
    """Run the simulator's bar timer once and wait until its frames reached the client."""
    sim.call(lambda: [conn.on_bar_timer() for conn in list(sim.connections)])
    start = app.mark()
    app.reqCurrentTime()
    app.wait_name("currentTime", start=start)


def test_a_day_of_minute_bars_covers_the_session_so_far_and_ends_at_the_live_price(hist):
    sim, app = hist
    bars, end = history(app, 1, "1 D", "1 min")
    assert len(bars) == 90  # 09:30 to 10:59 New York
    assert bars[0][0] == "20260310  09:30:00" and bars[-1][0] == "20260310  10:59:00"
    assert end[1:] == ("20260310  09:30:00", "20260310  11:00:00")
    for _date, o, high, low, c, volume, wap in bars:
        assert low <= min(o, c) <= max(o, c) <= high and volume > 0 and low <= wap <= high
    quote = sim.control.state()["quotes"]["AAPL"]
    assert abs(bars[-1][4] - quote["last"]) <= 0.05
    extended, _ = history(app, 2, "1 D", "1 hour", rth=0)
    assert [b[0][10:] for b in extended] == [f"{h:02d}:00:00" for h in range(4, 11)]


def test_bars_of_different_sizes_agree_where_they_share_an_edge(hist):
    _, app = hist
    minutes, _ = history(app, 1, "1800 S", "1 min")
    fives, _ = history(app, 2, "1800 S", "5 mins")
    assert len(minutes) == 30 and len(fives) == 6
    for i, five in enumerate(fives):
        group = minutes[5 * i : 5 * i + 5]
        assert five[0] == group[0][0]
        assert (five[1], five[4]) == (group[0][1], group[-1][4])
        assert five[3] <= min(b[1] for b in group) and five[2] >= max(b[1] for b in group)
    days, _ = history(app, 3, "1 W", "1 day")
    day_minutes, _ = history(app, 4, "1 D", "1 min", end="20260309 16:00:00 US/Eastern")
    monday = next(d for d in days if d[0] == "20260309")
    assert (monday[1], monday[4]) == (day_minutes[0][1], day_minutes[-1][4])


def test_history_is_the_same_for_the_same_seed_and_end_and_differs_for_another_seed(clock, make_sim):
    end = "20260306 15:00:00 US/Eastern"
    answers = []
    for seed in (5, 5, 6):
        app = connect(make_sim(seed=seed).port, 1)
        answers.append(history(app, 1, "2 D", "15 mins", end=end)[0])
        disconnect(app)
    assert answers[0] == answers[1] and answers[0] != answers[2]  # started at the same (pinned) time
    assert len(answers[0]) == 26 + 22  # Thursday's whole session, Friday's up to 15:00
    assert answers[0][0][0] == "20260305  09:30:00"


def test_dates_midpoint_bid_ask_and_long_durations(hist):
    _, app = hist
    epoch, _ = history(app, 1, "60 S", "1 min", fmt=2)
    assert epoch[0][0] == str(int(NOW.timestamp()) - 60)
    mid, _ = history(app, 2, "60 S", "1 min", what="MIDPOINT")
    bid, _ = history(app, 3, "60 S", "1 min", what="BID")
    ask, _ = history(app, 4, "60 S", "1 min", what="ASK")
    assert mid[0][5] == -1 and bid[0][1] < mid[0][1] < ask[0][1]
    daily, _ = history(app, 5, "1 Y", "1 day")
    assert 250 <= len(daily) <= 253 and daily[-1][0] == "20260310" and daily[0][0] >= "20250310"
    month, _ = history(app, 6, "1 M", "1 day")
    assert month[0][0] >= "20260210" and len(month) in (20, 21, 22)
    two_days, _ = history(app, 7, "2 D", "1 hour")
    assert two_days[0][0] == "20260309  09:30:00"


@pytest.mark.parametrize(
    ("kwargs", "code", "words"),
    [
        ({"symbol": "NOPE"}, 200, "No security definition"),
        ({"bar_size": "7 mins"}, 321, "bar size setting is invalid"),
        ({"duration": "3 days"}, 321, "duration"),
        ({"duration": "0 D"}, 321, "duration"),
        ({"what": "FOO"}, 321, "whatToShow"),
        ({"fmt": 0}, 321, "Date formatting selection of 0 rejected"),
        ({"end": "yesterday"}, 321, "End Date/Time"),
        ({"end": "20260309 10:00:00 Mars/Olympus"}, 321, "End Date/Time"),
        ({"end": "20260309 10:00:00", "live": True}, 321, "End date not supported with live updates"),
        ({"duration": "1 Y", "bar_size": "1 min"}, 162, "Time length exceed max"),
        ({"duration": "60 S", "end": "20260307 12:00:00 US/Eastern"}, 162, "HMDS query returned no data"),
    ],
)
def test_a_bad_history_request_gets_the_tws_error_and_the_connection_keeps_serving(hist, kwargs, code, words):
    _, app = hist
    args = {"duration": "1 D", "bar_size": "1 hour", "what": "TRADES", "fmt": 1, "end": "", "symbol": "AAPL"}
    args |= kwargs
    start = app.mark()
    app.reqHistoricalData(
        9, stock(args["symbol"]), args["end"], args["duration"], args["bar_size"], args["what"], 1, args["fmt"],
        args.get("live", False), [],
    )  # fmt: skip
    assert words in refused(app, 9, code, start)
    bars, _ = history(app, 10, "1 D", "1 hour")
    assert len(bars) == 2


def test_keep_up_to_date_sends_the_forming_bar_until_cancelled(hist, clock):
    sim, app = hist
    bars, _ = history(app, 1, "1800 S", "1 min", live=True)
    start = app.mark()
    clock.shift(20)
    serve_bars(sim, app)
    update = app.wait_name("historicalDataUpdate", start=start)[1]
    assert update[0] == 1 and update[1] == "20260310  11:00:00"
    assert bars[-1][0] == "20260310  10:59:00"
    # The forming bar's close is the path now, where a market step puts the live price.
    sim.call(lambda: sim.engine.market.step("AAPL"))
    assert update[5] == sim.control.state()["quotes"]["AAPL"]["last"]
    start = app.mark()
    app.cancelHistoricalData(1)
    clock.shift(90)
    serve_bars(sim, app)
    assert app.named("historicalDataUpdate")[-1] == update
    app.cancelHistoricalData(1)
    assert (
        "No historical data query found for ticker id:1"
        in app.wait_for(lambda e: e[0] == "error" and e[1][1] == 366, start=start)[1][2]
    )


def test_historical_pacing_refuses_with_162_and_recovers_with_time(clock, make_sim):
    sim = make_sim(history_requests_per_window=4, history_window=60, history_same_contract_count=3)
    app = connect(sim.port, 1)
    history(app, 1, "1 D", "1 hour")
    start = app.mark()
    app.reqHistoricalData(2, stock("AAPL"), "", "1 D", "1 hour", "TRADES", 1, 1, False, [])
    assert "pacing violation" in refused(app, 2, 162, start)  # identical within 15 s
    history(app, 3, "1 D", "5 mins")
    start = app.mark()
    app.reqHistoricalData(4, stock("AAPL"), "", "2 D", "1 hour", "TRADES", 1, 1, False, [])
    assert "pacing violation" in refused(app, 4, 162, start)  # third for AAPL TRADES within 2 s
    history(app, 5, "1 D", "1 hour", what="MIDPOINT")
    history(app, 6, "1 D", "1 hour", symbol="MSFT")
    clock.shift(3)
    start = app.mark()
    app.reqHistoricalData(7, stock("IBM"), "", "1 D", "1 hour", "TRADES", 1, 1, False, [])
    assert "pacing violation" in refused(app, 7, 162, start)  # the fifth in the minute
    clock.shift(60)
    assert len(history(app, 8, "1 D", "1 hour")[0]) == 3  # 09:30, 10:00 and the forming 11:00
    disconnect(app)


def test_ib_pacing_limits_are_the_defaults(make_sim):
    config = make_sim().config
    assert (config.history_requests_per_window, config.history_window) == (60, 600.0)
    assert (config.history_identical_within, config.history_same_contract_count) == (15.0, 6)
    assert config.history_same_contract_within == 2.0


def test_real_time_bars_arrive_every_five_seconds_until_cancelled(hist, clock):
    sim, app = hist
    app.reqRealTimeBars(3, stock("MSFT"), 5, "MIDPOINT", True, [])
    app.reqCurrentTime()  # the subscription is in place (and its first bar due) before the clock moves
    app.wait_name("currentTime")
    start = app.mark()
    clock.shift(5)
    serve_bars(sim, app)
    first = app.wait_name("realtimeBar", start=start)[1]
    assert first[0] == 3 and first[1] == int(NOW.timestamp()) and first[6] == -1
    assert first[4] <= min(first[2], first[5]) and first[3] >= max(first[2], first[5])
    clock.shift(5)
    serve_bars(sim, app)
    assert [b[1] for b in app.named("realtimeBar")] == [first[1], first[1] + 5]
    app.cancelRealTimeBars(3)
    clock.shift(10)
    serve_bars(sim, app)
    assert len(app.named("realtimeBar")) == 2
    start = app.mark()
    app.reqRealTimeBars(4, stock("MSFT"), 30, "TRADES", True, [])
    app.reqRealTimeBars(5, stock("NOPE"), 5, "TRADES", True, [])
    assert app.wait_for(lambda e: e[0] == "error" and e[1][0] == 4, start=start)[1][1] == 321
    assert app.wait_for(lambda e: e[0] == "error" and e[1][0] == 5, start=start)[1][1] == 200


def test_the_bar_timer_serves_live_bars_by_itself(clock, make_sim):
    sim = make_sim(bar_interval=0.01)
    app = connect(sim.port, 1)
    app.reqRealTimeBars(1, stock("AAPL"), 5, "TRADES", False, [])
    history(app, 2, "60 S", "1 min", live=True)
    clock.shift(6)
    assert app.wait_name("realtimeBar")[1][1] == int(NOW.timestamp())
    assert app.wait_name("historicalDataUpdate")[1][1] == "20260310  11:00:00"
    disconnect(app)
    assert time.time() == pytest.approx(NOW.timestamp() + 6)


def test_holidays_and_half_days_follow_the_exchange_calendar(make_sim):
    # 2026-11-27, the day after Thanksgiving (a holiday), closes at 13:00 New York (extended hours at 17:00).
    with time_machine.travel(dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC), tick=False):
        sim = make_sim()
        app = connect(sim.port, 1)
        hours, _ = history(app, 1, "1 D", "1 hour")
        assert [b[0][10:] for b in hours] == ["09:30:00", "10:00:00", "11:00:00", "12:00:00"]
        extended, _ = history(app, 2, "1 D", "1 hour", rth=0)
        assert extended[-1][0][10:] == "16:00:00"  # extended hours end at 17:00 on a half day
        days, _ = history(app, 3, "1 W", "1 day")
        assert [d[0] for d in days] == ["20261123", "20261124", "20261125", "20261127"]
        start = app.mark()
        app.reqHistoricalData(
            4, stock("AAPL"), "20261126 12:00:00 US/Eastern", "60 S", "1 min", "TRADES", 1, 1, False, []
        )
        assert "HMDS query returned no data" in refused(app, 4, 162, start)
        app.reqContractDetails(5, stock("AAPL"))
        details = app.wait_name("contractDetails")[1][1]
        assert details.liquidHours.split(";")[:2] == ["20261127:0930-20261127:1300", "20261128:CLOSED"]
        disconnect(app)
    weekdays = make_sim(calendar=None)
    app = connect(weekdays.port, 2)
    with time_machine.travel(dt.datetime(2026, 11, 26, 18, 0, tzinfo=dt.UTC), tick=False):
        assert len(history(app, 6, "1 D", "1 hour")[0]) == 4  # no calendar: Thanksgiving trades
    disconnect(app)


def test_an_injected_clock_drives_quotes_history_and_contract_hours(make_sim):
    noon = NOW.timestamp() + 3600  # 12:00 New York, whatever the machine's clock says
    sim = make_sim(clock=lambda: noon)
    app = connect(sim.port, 1)
    bars, end = history(app, 1, "1 D", "1 hour")
    assert end[1:] == ("20260310  09:30:00", "20260310  12:00:00")
    assert [b[0][10:] for b in bars] == ["09:30:00", "10:00:00", "11:00:00"]
    assert abs(bars[-1][4] - sim.control.state()["quotes"]["AAPL"]["last"]) <= 0.05
    app.reqContractDetails(2, stock("AAPL"))
    assert app.wait_name("contractDetails")[1][1].liquidHours.startswith("20260310:0930-20260310:1600")
    disconnect(app)
