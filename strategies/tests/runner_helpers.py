"""What the runner's tests share: a running session, and closed bars sent the way the bar loop sends them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from marketdata.bars import BarRecord
from marketdata.keys import MarketKeys
from marketdata.tests.stored_bars import store_history_bars
from strategies.engine import compile_graph
from strategies.models import TradingSession
from strategies.runner import Runner
from strategies.runtime.live_session import LiveSession


def running_session(version, account, instrument, **fields) -> TradingSession:
    """A running session of ``version`` on ``instrument``'s one-minute bars (a forward test unless told)."""
    defaults = {
        "strategy": version.strategy,
        "version": version,
        "account": account,
        "instrument": instrument,
        "resolution": "1",
        "mode": TradingSession.Mode.FORWARD,
        "status": TradingSession.Status.RUNNING,
        "starting_equity": Decimal("100000"),
        "started_at": timezone.now(),
        "running_since": timezone.now(),
        "fee_model": "fixed",
    }
    return TradingSession.objects.create(**{**defaults, **fields})


def send_closed(client, instrument, bars: list[BarRecord]) -> None:
    """Store ``bars`` in PostgreSQL, then put them on the closed-bar stream: the bar loop's order."""
    store_history_bars(instrument, bars)
    stream = MarketKeys(settings.STREAM_PREFIX).closed_bar_events
    for bar in bars:
        client.xadd(stream, {"bar": bar.encode()})


def runner(client, name: str = "test-runner", **options) -> Runner:
    """A runner on the test's Redis and prefix, following the closed-bar stream from now on."""
    # A short poll: an empty read blocks that long, and the tests read until the stream is empty.
    made = Runner(client=client, prefix=settings.STREAM_PREFIX, owner=name, **{"poll": 0.005, **options})
    newest = client.xrevrange(made.keys.closed_bar_events, count=1)
    made.cursor = newest[0][0] if newest else "0-0"
    return made


def drain(made: Runner, rounds: int = 50) -> None:
    """Let ``made`` take its leases and read until the stream has nothing more."""
    made.refresh()
    for _ in range(rounds):
        made._next_refresh = time.monotonic() + 3600  # no lease round in between: the test says when
        if not made.step():
            return
    raise AssertionError("the runner never caught up")


# The runner tests' walk: WARM bars stored before the session starts, LIVE bars sent to it.
WARM, LIVE = 600, 240


def at(bar) -> datetime:
    """Two seconds after ``bar`` closed: when a live runner reads it."""
    return datetime.fromtimestamp(bar.time + 62, tz=UTC)


def feed_live(client, made, instrument, bars, clock) -> None:
    for bar in bars:
        clock.move_to(at(bar))
        send_closed(client, instrument, [bar])
        drain(made)


def reference(version, bars, warm):
    """The decisions and fills a session started flat after ``warm`` bars makes, computed in memory."""
    live = LiveSession(
        session_id=0, mode="forward", plan=compile_graph(version.graph), symbol="AAPL", resolution="1",
        starting_equity=100000.0,
    )  # fmt: skip
    live.warm_up(bars[:warm], None)
    results = [live.on_bar(b) for b in bars[warm:]]
    decisions = [(r.bar_time, r.decision.action) for r in results if r.decision is not None]
    fills = [(f.time, f.side, f.quantity, round(f.price, 4)) for r in results for f in r.fills]
    return decisions, fills, results[-1].equity


def broker_ready(version, instrument, bars) -> tuple[list, int]:
    """Make ``version`` may trade at a broker (approved by a risk manager), price ``instrument`` at the
    first live bar and store the ``WARM`` bars before it; return the in-memory decisions and the index
    in ``bars`` of the bar of the first one."""
    from accounts.tests.factories import UserFactory

    # Approved at the walk's first bar: before every session the tests start on it.
    version.approved_at = datetime.fromtimestamp(bars[0].time, tz=UTC)
    version.approved_by = UserFactory(username="risk")
    version.save(update_fields=["approved_at", "approved_by"])
    instrument.last_price = bars[WARM].close
    instrument.save(update_fields=["last_price"])
    store_history_bars(instrument, bars[:WARM])
    decisions, _, _ = reference(version, bars, WARM)
    first = next(i for i, bar in enumerate(bars) if bar.time == decisions[0][0])
    return decisions, first
