"""The broker loop against the simulator over a loopback socket, with PostgreSQL and Redis: history
backfill (gaps filled, nothing asked twice, a reconnect fills what went missing) and contract lookups."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis
import time_machine
from django.conf import settings as django_settings

from marketdata import lookups
from marketdata.broker import BrokerSettings, MarketBroker
from marketdata.broker.pacing import HistoryPacing, PacingRules
from marketdata.keys import MarketKeys
from marketdata.models import Bar
from orders.tests.factories import InstrumentFactory
from tws_simulator import Simulator, SimulatorConfig

NEW_YORK = ZoneInfo("America/New_York")
# Wednesday 25 November 2026, 15:00 in New York: two days back start on Monday.
WEDNESDAY_3PM = datetime(2026, 11, 25, 15, 0, tzinfo=NEW_YORK)
CLIENT_ID = 7
# Bars of all of Monday and Tuesday and Wednesday to 15:00 (the bar ending 15:00 included).
EXPECTED = {"1": 390 + 390 + 330, "5": 78 + 78 + 66, "15": 26 + 26 + 22, "60": 7 + 7 + 6, "1D": 2}

# Wednesday's bars to 15:00 (a lookback of 0 days: today only; today's daily bar is not closed).
TODAY = {"1": 330, "5": 66, "15": 22, "60": 6, "1D": 0}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def prefix(settings):
    """A stream prefix of this test's own (the lookups' caller reads settings.STREAM_PREFIX)."""
    settings.STREAM_PREFIX = f"{django_settings.STREAM_PREFIX}-broker-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    yield settings.STREAM_PREFIX
    keys = list(client.scan_iter(match=f"{settings.STREAM_PREFIX}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def sim():
    simulator = Simulator(
        SimulatorConfig(host="127.0.0.1", port=0, seed=1, market_interval=0, account_summary_interval=0)
    ).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def start_broker(sim, prefix, settings):
    """Start a broker loop in a thread (as the marketdata process does); every one is stopped at teardown."""
    started: list[tuple[threading.Event, threading.Thread]] = []

    def start(pacing: HistoryPacing | None = None, **overrides) -> MarketBroker:
        config = {
            "host": "127.0.0.1",
            "port": sim.port,
            "client_id": CLIENT_ID,
            "prefix": prefix,
            "backfill_days": 2,
            "connect_timeout": 2.0,
            "request_timeout": 10.0,
            "retry_delay": 1.0,
            "backoff_initial": 0.1,
            "backoff_max": 0.5,
        }
        config.update(overrides)
        broker = MarketBroker(BrokerSettings(**config), redis.Redis.from_url(settings.REDIS_URL, decode_responses=True))
        if pacing is not None:
            broker.history.pacing = pacing
        stop = threading.Event()
        thread = threading.Thread(target=broker.run, args=(stop,), daemon=True)
        thread.start()
        started.append((stop, thread))
        return broker

    yield start
    for stop, thread in started:
        stop.set()
        thread.join(10)
        assert not thread.is_alive()


def _until(condition, what: str, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.05)


def _counts(instrument) -> dict[str, int]:
    return {code: Bar.objects.filter(instrument=instrument, resolution=code).count() for code in EXPECTED}


def _backfilled(broker: MarketBroker) -> bool:
    return broker.scans >= 1 and broker.history.idle


def test_backfill_fills_every_missing_bar_and_a_second_run_asks_nothing(start_broker):
    aapl = InstrumentFactory(symbol="AAPL")
    InstrumentFactory(symbol="MSFT", active=False)
    with time_machine.travel(WEDNESDAY_3PM, tick=True):
        first = start_broker()
        _until(lambda: _backfilled(first), "the first backfill")
        assert _counts(aapl) == EXPECTED
        assert set(Bar.objects.values_list("source", flat=True)) == {"history"}
        assert not Bar.objects.exclude(instrument=aapl).exists()
        assert first.history.figures.violations == 0
        assert first.history.figures.sent >= 5
        assert first.history.plan() == 0

        second = start_broker(client_id=CLIENT_ID + 1)
        _until(lambda: _backfilled(second), "the second scan")
        assert second.history.figures.sent == 0
        assert _counts(aapl) == EXPECTED


def test_a_reconnect_fills_the_bars_that_went_missing(start_broker, sim):
    aapl = InstrumentFactory(symbol="AAPL")
    with time_machine.travel(WEDNESDAY_3PM, tick=True):
        broker = start_broker()
        _until(lambda: _backfilled(broker), "the first backfill")
        sent = broker.history.figures.sent
        lost = Bar.objects.filter(
            instrument=aapl, resolution="1", start__gte=datetime(2026, 11, 25, 13, 0, tzinfo=NEW_YORK)
        )
        assert lost.count() == 120
        lost.delete()
        # Inside ranges TWS answered on this session, a missing bar is one IB has none of (no
        # trades): the periodic scan does not ask again; a new session looks at everything.
        assert broker.history.plan() == 0
        generation = broker.generation
        assert sim.control.drop_connections(client_id=CLIENT_ID) == 1
        _until(lambda: broker.generation > generation and broker.scans >= 2 and broker.history.idle, "the refill")
        assert _counts(aapl) == EXPECTED
        assert broker.history.figures.sent == sent + 1
        assert broker.history.figures.violations == 0


def test_while_tws_has_lost_ib_history_waits_and_the_link_coming_back_fills_the_gaps(start_broker, sim):
    aapl = InstrumentFactory(symbol="AAPL")
    with time_machine.travel(WEDNESDAY_3PM, tick=True):
        broker = start_broker(backfill_days=0)
        _until(lambda: _backfilled(broker) and _counts(aapl) == TODAY, "the first backfill")
        generation, scans = broker.generation, broker.scans
        sim.control.connectivity_lost(restore=None)
        _until(lambda: not broker.link_up, "1100")
        Bar.objects.filter(instrument=aapl, resolution="5").delete()
        with pytest.raises(lookups.BrokerUnavailable):
            lookups.contract_details("AAPL", timeout=2.0)
        assert broker.scans == scans
        sim.control.connectivity_restored("lost")
        _until(lambda: broker.scans > scans and broker.history.idle and _counts(aapl) == TODAY, "the refill")
        assert broker.generation == generation


def test_a_request_that_never_answers_times_out_and_is_asked_again(start_broker, sim):
    with time_machine.travel(WEDNESDAY_3PM, tick=True):
        # The retry is identical to the request that timed out: IB's 15-second rule spaces them.
        broker = start_broker(backfill_days=0, request_timeout=1.0, retry_delay=0.2, rescan_interval=0.2)
        _until(broker.ready.is_set, "the TWS session")
        sim.control.delay_replies(3.0)
        aapl = InstrumentFactory(symbol="AAPL")
        _until(lambda: broker.history.figures.timeouts >= 1, "a timeout")
        sim.control.delay_replies(0)
        _until(lambda: _counts(aapl) == TODAY, "the retried requests", limit=60.0)
        assert broker.history.figures.violations == 0
        assert broker.history.figures.sent > len([code for code, n in TODAY.items() if n])


def test_error_162_holds_history_for_a_back_off_and_the_requests_are_retried(start_broker):
    strict = Simulator(
        SimulatorConfig(
            host="127.0.0.1",
            port=0,
            market_interval=0,
            account_summary_interval=0,
            history_requests_per_window=2,
            history_window=1.0,
            history_identical_within=1.0,
        )
    ).start()
    try:
        aapl = InstrumentFactory(symbol="AAPL")
        with time_machine.travel(WEDNESDAY_3PM, tick=True):
            # The client believes IB's 60 in 10 minutes; this TWS allows two requests a second.
            broker = start_broker(
                port=strict.port,
                backfill_days=0,
                pacing=HistoryPacing(PacingRules(first_back_off=1.0, identical_gap=1.0)),
            )
            _until(lambda: _backfilled(broker) and _counts(aapl) == TODAY, "the backfill")
            assert broker.history.figures.violations >= 1
    finally:
        strict.stop()


def test_a_known_symbol_is_looked_up_through_redis_and_the_broker_loop(start_broker):
    broker = start_broker(backfill_days=0)
    _until(broker.ready.is_set, "the TWS session")
    info = lookups.contract_details(" aapl ", timeout=5.0)
    assert info.symbol == "AAPL"
    assert info.con_id > 0
    assert info.currency == "USD"
    assert info.min_tick > 0
    assert info.trading_hours
    matches = lookups.matching_symbols("MSF", timeout=5.0)
    assert "MSFT" in [m.symbol for m in matches]


def test_a_burst_of_lookups_is_spread_within_tws_message_rate_and_answered_in_full(start_broker):
    broker = start_broker(backfill_days=0)
    _until(broker.ready.is_set, "the TWS session")
    symbols = ["AAPL", "MSFT", "IBM", "SPY", "QQQ", "NVDA"] * 5
    answers: list[str] = []

    def ask(symbol: str) -> None:
        answers.append(lookups.contract_details(symbol, timeout=10.0).symbol)

    askers = [threading.Thread(target=ask, args=(symbol,)) for symbol in symbols]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(15)
    assert sorted(answers) == sorted(symbols)
    assert broker.session is not None and broker.session.alive


def test_an_unknown_symbol_is_refused_with_its_code_and_the_loop_keeps_serving(start_broker, prefix):
    broker = start_broker(backfill_days=0)
    _until(broker.ready.is_set, "the TWS session")
    with pytest.raises(lookups.UnknownSymbol) as refused:
        lookups.contract_details("NOSUCH", timeout=5.0)
    assert refused.value.code == "marketdata.unknown_symbol"
    # A malformed request on the stream is dropped (answered when it names a reply list).
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    keys = MarketKeys(prefix)
    reply = keys.lookup_reply("bad")
    client.xadd(keys.lookups, {"kind": "explode", "query": "AAPL", "reply": reply, "deadline": "0"})
    client.xadd(keys.lookups, {"garbage": "1"})
    assert client.blpop([reply], timeout=5) is not None
    assert lookups.contract_details("IBM", timeout=5.0).symbol == "IBM"


def test_a_bad_symbol_is_refused_before_anything_is_asked(prefix):
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    with pytest.raises(lookups.BadSymbol) as refused:
        lookups.contract_details("AAPL; DROP", timeout=1.0)
    assert refused.value.code == "marketdata.bad_symbol"
    for pattern in ("", "x" * 65, "caf\u00e9"):
        with pytest.raises(lookups.BadSymbol):
            lookups.matching_symbols(pattern, timeout=1.0)
    assert client.xlen(MarketKeys(prefix).lookups) == 0


def test_a_lookup_with_no_process_answering_is_broker_unavailable_within_its_timeout(prefix):
    started = time.monotonic()
    with pytest.raises(lookups.BrokerUnavailable) as refused:
        lookups.contract_details("AAPL", timeout=0.5)
    assert refused.value.code == "marketdata.broker_unavailable"
    assert time.monotonic() - started < 5.0


def test_a_lookup_while_tws_is_away_is_answered_broker_unavailable_at_once(start_broker, sim):
    sim.control.refuse_connections(True)
    sim.control.drop_connections()
    broker = start_broker(backfill_days=0)
    with pytest.raises(lookups.BrokerUnavailable) as refused:
        lookups.contract_details("AAPL", timeout=10.0)
    # The loop's own refusal, not the caller's timeout.
    assert "not connected" in refused.value.message
    assert not broker.ready.is_set()
