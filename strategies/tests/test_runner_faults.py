"""The strategy runner as a process (``manage.py strategy_runner``) on the test's PostgreSQL and Redis, under faults:
killed with SIGKILL between or during decisions, two runners side by side, Redis killed and restarted, and market
data that stops while the market is open.

A subprocess cannot be time-machined, so its bars are made around the real clock (``runner_process.Bars``):
the warm history ends a minute before the session starts, the live bars start at the current minute
and go on a minute apart (into the future: the runner refuses bars that are too old, never new
ones, and the market-data check only looks back), so no test depends on the hour it runs at.
"""

from __future__ import annotations

import copy
import shutil
import signal
import subprocess
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import redis
import time_machine
from django.utils import timezone

from accounts.models import Alert, OutboxMessage, ProcessHeartbeat
from marketdata.bars import BarRecord
from marketdata.tests.stored_bars import store_history_bars
from orders.models import Order
from strategies.engine.decisions import decision_client_order_id
from strategies.engine.tests.helpers import bar, walk_bars
from strategies.models import SessionDecision, SessionEquityPoint, TradingSession
from strategies.services import strategy_version_save
from strategies.tests.factories import StrategyFactory
from strategies.tests.runner_helpers import drain, runner, running_session, send_closed
from strategies.tests.runner_process import EVERY_BAR, MINUTE, Bars, Runners, alternating, wait_for
from streams.tests.stack import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# A runner process's start (Django, the engine) on a machine busy with other test runs takes a while.
STARTS = 60


@pytest.fixture
def every_bar(risk_manager):
    """A version that decides on every bar of alternating bars, approved for the broker by a Risk manager."""
    version = strategy_version_save(actor=None, strategy=StrategyFactory(name="Every bar"), graph=EVERY_BAR, via="test")
    version.approved_by, version.approved_at = risk_manager, timezone.now()
    version.save(update_fields=["approved_by", "approved_at"])
    return version


@pytest.fixture
def runners(tmp_path):
    made = Runners(tmp_path)
    yield made
    made.stop_all()


def last_bar_time(session_id: int) -> int | None:
    return TradingSession.objects.filter(pk=session_id).values_list("last_bar_time", flat=True).first()


def recorded_up_to(session_id: int, bar: BarRecord, runners: Runners, timeout: float = STARTS) -> None:
    try:
        wait_for(lambda: last_bar_time(session_id) == bar.time, timeout, f"session {session_id} to record {bar.time}")
    except AssertionError as exc:
        row = TradingSession.objects.filter(pk=session_id).values("status", "last_bar_time", "lease_owner").first()
        decided = list(SessionDecision.objects.filter(session_id=session_id).values_list("bar_time", "outcome"))
        raise AssertionError(f"{exc}: {row}, decided {decided}\n{runners.logs_text()}") from None


def decided_once_each(session: TradingSession, bars: list[BarRecord]) -> list[SessionDecision]:
    """Assert ``session`` has exactly one decision on each of ``bars`` and none on another bar; its decisions."""
    decisions = list(SessionDecision.objects.filter(session=session).order_by("bar_time"))
    assert [d.bar_time for d in decisions] == [b.time for b in bars]
    return decisions


def test_a_broker_runner_killed_while_deciding_is_taken_over_without_a_repeated_or_skipped_decision(
    redis_client, every_bar, account, instrument, runners
):
    bars = Bars()
    store_history_bars(instrument, bars.warm)
    session = running_session(every_bar, account, instrument, mode=TradingSession.Mode.BROKER)
    first = runners.start("first")
    wait_for(lambda: first.holds(session.pk), STARTS, "the first runner to hold the session", runners)
    for one in [bars.next() for _ in range(3)]:
        send_closed(redis_client, instrument, one)
        recorded_up_to(session.pk, one[0], runners)

    # Killed at a different point of its work each time: as a bar arrives, while it decides, once it placed.
    current = first
    for n, delay in enumerate((0.0, 0.02, 0.08)):
        send_closed(redis_client, instrument, bars.next())
        time.sleep(delay)
        current.kill()
        # Bars go on closing while no runner holds the session: the next one catches them up from PostgreSQL.
        send_closed(redis_client, instrument, bars.next(2))
        current = runners.start(f"after-{n}")
        wait_for(lambda current=current: current.holds(session.pk), STARTS, "the lease to move on", runners)
        send_closed(redis_client, instrument, bars.next())
        recorded_up_to(session.pk, bars.sent[-1], runners)

    for one in [bars.next() for _ in range(2)]:
        send_closed(redis_client, instrument, one)
    recorded_up_to(session.pk, bars.sent[-1], runners)
    current.stop()

    decisions = decided_once_each(session, bars.sent)
    placed = [d for d in decisions if d.outcome == SessionDecision.Outcome.PLACED]
    assert len(placed) == len(decisions), [(d.bar_time, d.outcome, d.error_code) for d in decisions]
    for decision in decisions:
        coid = decision_client_order_id(session.pk, decision.bar_time, decision.action)
        (order,) = Order.objects.filter(client_order_id=coid)
        assert decision.order_id == order.pk and order.trading_session_id == session.pk
        # Reached the broker path: its place command is in the outbox, once.
        assert OutboxMessage.objects.filter(type="order.place", data__client_order_id=str(coid)).count() == 1
    assert Order.objects.count() == len(placed)
    assert [d.action for d in decisions] == ["sell" if b.close < b.open else "buy" for b in bars.sent]


def test_two_runners_side_by_side_share_the_sessions_and_each_decides_once_per_bar(
    redis_client, every_bar, account, instrument, runners
):
    bars = Bars()
    store_history_bars(instrument, bars.warm)
    sessions = [running_session(every_bar, account, instrument) for _ in range(4)]
    one, two = runners.start("one", capacity=2), runners.start("two", capacity=2)
    wait_for(
        lambda: all(one.holds(s.pk) or two.holds(s.pk) for s in sessions),
        STARTS,
        "both runners to hold two each",
        runners,
    )
    owners = dict(TradingSession.objects.values_list("pk", "lease_owner"))
    assert sorted(owner.split(":")[0] for owner in owners.values()) == ["one", "one", "two", "two"]

    for _ in range(6):
        send_closed(redis_client, instrument, bars.next())
    for session in sessions:
        recorded_up_to(session.pk, bars.sent[-1], runners)
    # The leases never moved: each session stayed with the runner that took it.
    assert dict(TradingSession.objects.values_list("pk", "lease_owner")) == owners
    # Each runner's heartbeat counts its own sessions and the bars it read (every 5 s).
    for name in ("one", "two"):
        beat = wait_for(
            lambda name=name: ProcessHeartbeat.objects.filter(name=name, data__bars=6).first(), 20, f"{name}'s beat"
        )
        assert (beat.state, beat.data["sessions"], beat.data["decisions"]) == ("running", 2, 12)

    for session in sessions:
        decided_once_each(session, bars.sent)
        assert list(
            SessionEquityPoint.objects.filter(session=session).order_by("bar_time").values_list("bar_time", flat=True)
        ) == [b.time for b in bars.sent]


def test_a_strategy_that_raises_in_the_runner_process_stops_its_session_with_an_alert_and_the_other_goes_on(
    redis_client, every_bar, account, instrument, runners
):
    # The same decisions sized by equity: a fill at a price of zero divides by it.
    graph = copy.deepcopy(EVERY_BAR)
    size = next(node for node in graph["nodes"] if node["id"] == "size")
    size["type"], size["data"]["params"] = "percent_of_equity", {"percent": 10.0}
    by_equity = strategy_version_save(actor=None, strategy=StrategyFactory(name="By equity"), graph=graph, via="test")
    bars = Bars()
    store_history_bars(instrument, bars.warm)
    fixed, sized = running_session(every_bar, account, instrument), running_session(by_equity, account, instrument)
    made = runners.start("runner")
    wait_for(lambda: made.holds(fixed.pk) and made.holds(sized.pk), STARTS, "the runner to hold both", runners)
    for _ in range(3):
        send_closed(redis_client, instrument, bars.next())
    # A bar priced at zero (a bad print): the sized session's pending decision fills at its open.
    zero = bars.next()[0]
    zero = bar(zero.time, 0.0, 0.0, 0.0, 0.0)
    bars.sent[-1] = zero
    send_closed(redis_client, instrument, [zero])
    for _ in range(2):
        send_closed(redis_client, instrument, bars.next())
    recorded_up_to(fixed.pk, bars.sent[-1], runners)
    wait_for(
        lambda: TradingSession.objects.filter(pk=sized.pk, status=TradingSession.Status.STOPPED).exists(),
        30,
        "the sized session to stop",
        runners,
    )

    sized.refresh_from_db()
    assert sized.status_reason == "evaluation_error"
    assert sized.last_bar_time == bars.sent[2].time  # the bars before the one it raised on
    alert = Alert.objects.get(key=f"trading_session.evaluation_error:{sized.pk}")
    assert alert.severity == Alert.Severity.CRITICAL and "ZeroDivisionError" in alert.message
    fixed.refresh_from_db()
    assert fixed.status == TradingSession.Status.RUNNING
    assert list(
        SessionEquityPoint.objects.filter(session=fixed).order_by("bar_time").values_list("bar_time", flat=True)
    ) == [b.time for b in bars.sent]
    assert made.process.poll() is None and made.holds(fixed.pk)


class RedisServer:
    """A redis-server of this test's own on a free loopback port, without persistence: a restart empties it."""

    def __init__(self, folder: Path) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.folder, self.port = folder, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.folder)]  # fmt: skip
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        probe = redis.Redis(port=self.port)
        try:
            wait_for(lambda: self._answers(probe), 10, f"redis-server on port {self.port}")
        finally:
            probe.close()

    def _answers(self, probe) -> bool:
        try:
            return bool(probe.ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()


def test_a_runner_whose_redis_restarts_empty_goes_on_and_catches_up_the_bars_it_could_not_read(
    every_bar, account, instrument, runners, private_redis
):
    bars = Bars()
    store_history_bars(instrument, bars.warm)
    session = running_session(every_bar, account, instrument)
    made = runners.start("runner", env={"REDIS_URL": private_redis.url})
    wait_for(lambda: made.holds(session.pk), STARTS, "the runner to hold the session", runners)
    client = redis.Redis.from_url(private_redis.url, decode_responses=True)
    try:
        for one in [bars.next() for _ in range(3)]:
            send_closed(client, instrument, one)
            recorded_up_to(session.pk, one[0], runners)

        private_redis.kill()
        # Redis is away: the bar loop stores its bars in PostgreSQL and cannot put them on the stream.
        store_history_bars(instrument, bars.next(2))
        wait_for(lambda: "runner step failed" in made.log(), 30, "the runner to notice Redis is gone", runners)
        private_redis.start()  # empty: the stream and the runner's place in it are gone
        client.close()
        for one in [bars.next() for _ in range(3)]:
            send_closed(client, instrument, one)
        recorded_up_to(session.pk, bars.sent[-1], runners)
        assert made.process.poll() is None, "the runner kept running"
    finally:
        client.close()

    decided_once_each(session, bars.sent)
    assert list(
        SessionEquityPoint.objects.filter(session=session).order_by("bar_time").values_list("bar_time", flat=True)
    ) == [b.time for b in bars.sent]


# -- market data that stops: in the test process, its clock pinned (the bound is five bars, and market hours matter) --


@pytest.fixture
def tuesday():
    """One-minute AAPL bars of a random walk from Tuesday 2026-03-10's XNYS open (13:30 UTC) on."""
    return walk_bars(60, seed=5, first_day=date(2026, 3, 10))


def _feed(client, made, instrument, bars, clock) -> None:
    for one in bars:
        clock.move_to(datetime.fromtimestamp(one.time + MINUTE + 2, tz=UTC))
        send_closed(client, instrument, [one])
        drain(made)


def test_market_data_quiet_for_five_bars_while_the_market_is_open_pauses_the_session_with_an_alert(
    redis_client, every_bar, account, instrument, tuesday
):
    store_history_bars(instrument, tuesday[:30])
    with time_machine.travel(datetime.fromtimestamp(tuesday[29].time + MINUTE + 2, tz=UTC), tick=False) as clock:
        session = running_session(every_bar, account, instrument)
        made = runner(redis_client)
        drain(made)
        _feed(redis_client, made, instrument, tuesday[30:35], clock)
        last_end = tuesday[34].time + MINUTE
        # Quiet for a little under five bars: still running.
        clock.move_to(datetime.fromtimestamp(last_end + 5 * MINUTE - 5, tz=UTC))
        made.refresh()
        session.refresh_from_db()
        assert session.status == TradingSession.Status.RUNNING and session.pk in made.live
        # Five bars and a little more, at 14:10 UTC on a Tuesday: the market is open, the data stopped.
        clock.move_to(datetime.fromtimestamp(last_end + 5 * MINUTE + 5, tz=UTC))
        made.refresh()
    session.refresh_from_db()
    assert (session.status, session.status_reason) == (TradingSession.Status.PAUSED, "market_data_stale")
    assert session.last_bar_time == tuesday[34].time
    assert made.live == {}
    alert = Alert.objects.get(key=f"trading_session.market_data_stale:{session.pk}")
    assert alert.severity == Alert.Severity.WARNING and "while the market is open" in alert.message


def test_no_bar_after_the_close_is_not_stale_market_data(redis_client, every_bar, account, instrument):
    # The last bars of Tuesday 2026-03-10's session (XNYS closes at 20:00 UTC): then the market is shut.
    close = int(datetime(2026, 3, 10, 20, 0, tzinfo=UTC).timestamp())
    bars = alternating(close - 40 * MINUTE, 40)
    store_history_bars(instrument, bars[:35])
    with time_machine.travel(datetime.fromtimestamp(close - 5 * MINUTE + 2, tz=UTC), tick=False) as clock:
        session = running_session(every_bar, account, instrument)
        made = runner(redis_client)
        drain(made)
        _feed(redis_client, made, instrument, bars[35:], clock)
        # An hour after the close, no bar for an hour: nothing is due, the session runs on.
        clock.move_to(datetime.fromtimestamp(close + 3600, tz=UTC))
        made.refresh()
    session.refresh_from_db()
    assert session.status == TradingSession.Status.RUNNING and session.pk in made.live
    assert session.last_bar_time == bars[-1].time
    assert not Alert.objects.filter(key=f"trading_session.market_data_stale:{session.pk}").exists()
