"""Strategy runner: bar -> 1,000 forward sessions decided, CPU per decision (100 vs 1,000), broker bar -> command.

The real processes, as the Procfile runs them: the runner (``manage.py strategy_runner``) and the
outbox relay (``manage.py stream_bridge --relay-only``), subprocesses on the machine's PostgreSQL
(the bench's own database, ``bench.database``) and Redis (``REDIS_URL``, a private prefix deleted
after). 100 symbols (``TC_BENCH_RUNNER_SYMBOLS``) have 500 one-minute bars of warm history each
(the runner's window). Each round stores every symbol's next closed bar in PostgreSQL, then adds
them to ``{prefix}:bars:closed`` in one MULTI/EXEC, as the bar loop does; the latency of a round
runs from just before that EXEC to the moment every session's ``last_bar_time`` is the round's bar
(a ``count(*)`` polled every 5 ms), so it includes the read, every decision and the one
transaction recording them. Bar times advance a minute a round, faster than the clock (they run
into the future, which the runner allows; a bar older than two bars it would not act on).

1. 1,000 forward tests (10 a symbol) of the EMA crossover template: p99 <= 1 s (issue 20).
2. The runner's CPU (``/proc/<pid>/stat``, user + system, every thread, lease rounds and
   heartbeat included) over the timed rounds / (sessions x rounds), with 100 sessions (1 a
   symbol) and then 1,000 in the same runner; and the ratio of the two. PostgreSQL's own work
   recording the bars is in its backends, not in this figure. And the runner's CPU per second
   between rounds (its lease round every 0.5 s and its heartbeat), holding each number.
3. One broker session whose graph decides on every bar (buy and sell on close > 0: alternating),
   on an approved version, with wide risk limits: from just before the closed bar's EXEC to the
   moment an XREAD blocked on the command stream returns its ``order.place``: p99 <= 20 ms.
   Runs after the forward tests are stopped, so the runner holds that session alone.

``TC_BENCH_RUNNER_ROUNDS`` (default 15) timed rounds a size, ``TC_BENCH_RUNNER_BROKER_ROUNDS``
(default 40) broker bars; two untimed rounds first (the sessions load and warm up).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis

from bench import runner_rig as rig
from bench.database import setup_django
from bench.live_rig import wipe_prefix
from bench.report import Figure, latency_figures

SYMBOLS = int(os.environ.get("TC_BENCH_RUNNER_SYMBOLS", "100"))
PER_SYMBOL = 10
ROUNDS = int(os.environ.get("TC_BENCH_RUNNER_ROUNDS", "15"))
BROKER_ROUNDS = int(os.environ.get("TC_BENCH_RUNNER_BROKER_ROUNDS", "40"))
UNTIMED = 2
GAP = 0.3  # seconds between rounds: a lease round may fall in between, as it would live
LOAD_TIMEOUT = 300.0  # loading 1,000 sessions (compile, 500 bars of warm-up each) on a busy machine
ROUND_TIMEOUT = 30.0


class Bench:
    def __init__(self, client, prefix: str, walk: rig.Walk) -> None:
        from marketdata.keys import MarketKeys

        self.client, self.walk = client, walk
        self.closed = MarketKeys(prefix).closed_bar_events
        self.commands = f"{prefix}:commands"

    def publish(self, instruments=None) -> tuple[int, float]:
        """Store the next closed bar of ``instruments`` (default all), then add them to the stream in
        one EXEC; return the bars' time and the perf_counter just before the EXEC."""
        bars = self.walk.bars(instruments)
        rig.store(self.walk.instruments, bars)
        pipe = self.client.pipeline(transaction=True)
        for bar in bars:
            pipe.xadd(self.closed, {"bar": bar.encode()}, maxlen=100_000, approximate=True)
        sent = time.perf_counter()
        pipe.execute()
        return bars[0].time, sent

    def forward_round(self, sessions: int, timeout: float = ROUND_TIMEOUT) -> float:
        """One round of every symbol's bar; ms until all ``sessions`` forward tests recorded it."""
        from django.db import connection

        bar_time, sent = self.publish()

        def decided() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM strategies_tradingsession "
                    "WHERE mode = 'forward' AND status = 'running' AND last_bar_time >= %s",
                    [bar_time],
                )
                return cursor.fetchone()[0] >= sessions

        rig.wait(decided, timeout, f"{sessions} sessions to record the bar at {bar_time}")
        return (time.perf_counter() - sent) * 1000

    def forward(self, sessions: int, runner_pid: int) -> tuple[list[float], float, float]:
        """Untimed rounds until every session is loaded, then the timed rounds: (latencies ms,
        runner CPU s over the timed rounds, runner CPU s per second while idle between them)."""
        for _ in range(UNTIMED):
            self.forward_round(sessions, timeout=LOAD_TIMEOUT)
            time.sleep(GAP)
        cpu = rig.cpu_seconds(runner_pid)
        samples = []
        for _ in range(ROUNDS):
            samples.append(self.forward_round(sessions))
            time.sleep(GAP)
        cpu = rig.cpu_seconds(runner_pid) - cpu
        idle = rig.cpu_seconds(runner_pid)
        time.sleep(3.0)
        return samples, cpu, (rig.cpu_seconds(runner_pid) - idle) / 3.0

    def broker(self, instrument) -> list[float]:
        """Untimed bars until the session's orders reach the command stream, then the timed ones; ms each."""
        newest = self.client.xrevrange(self.commands, count=1)
        last = newest[0][0] if newest else b"0-0"
        samples = []
        for i in range(UNTIMED + BROKER_ROUNDS):
            bar_time, sent = self.publish([instrument])
            reply = self.client.xread(
                {self.commands: last}, count=1, block=int(LOAD_TIMEOUT * 1000 if i == 0 else 5000)
            )
            arrived = time.perf_counter()
            if not reply:
                raise RuntimeError(f"no command on the command stream for the bar at {bar_time}")
            last, fields = reply[0][1][0]
            if fields.get(b"type") != b"order.place":
                raise RuntimeError(f"expected an order.place, read {fields}")
            if i >= UNTIMED:
                samples.append((arrived - sent) * 1000)
            time.sleep(GAP)
        return samples


def main() -> list[Figure]:
    prefix = f"tcbenchrun{uuid.uuid4().hex[:6]}"
    os.environ["TRADECONSOLE_STREAM_PREFIX"] = prefix
    setup_django("strategy_runner")
    from django.conf import settings

    from strategies.models import TradingSession

    client = redis.Redis.from_url(settings.REDIS_URL)
    account, instruments, ema, every_bar = rig.seed(SYMBOLS)
    walk = rig.Walk(instruments, first_time=int(time.time() // 60) * 60 - 60)
    rig.warm_history(walk)
    bench = Bench(client, prefix, walk)

    def since() -> datetime:
        # Running from the next bar on: every stored bar is history, none a catch-up.
        return datetime.fromtimestamp(walk.next_time, tz=UTC)

    logs = Path(tempfile.mkdtemp(prefix="bench-strategy-runner-"))
    rig.sessions(ema, account, instruments, 1, mode="forward", since=since())
    processes = []
    ok = False
    try:
        runner = rig.start(["strategy_runner", "--name", "bench-runner", "--capacity", "5000"], logs / "runner.log")
        processes = [runner, rig.start(["stream_bridge", "--relay-only", "--poll", "0.5"], logs / "relay.log")]
        time.sleep(2.0)  # the runner is following the stream

        small = len(instruments)
        small_ms, small_cpu, small_idle = bench.forward(small, runner.pid)
        rig.sessions(ema, account, instruments, PER_SYMBOL - 1, mode="forward", since=since())
        big = small * PER_SYMBOL
        big_ms, big_cpu, big_idle = bench.forward(big, runner.pid)

        TradingSession.objects.filter(mode="forward").update(status="stopped")
        time.sleep(2.0)  # the runner drops them at its next lease round
        rig.sessions(every_bar, account, instruments[:1], 1, mode="broker", since=since())
        broker_ms = bench.broker(instruments[0])
        ok = True
    finally:
        for process in processes:
            rig.stop(process)
        wipe_prefix(client, prefix)
        if not ok:
            for name in ("runner", "relay"):
                path = logs / f"{name}.log"
                if path.exists():
                    print(f"--- {name} log (tail)\n{path.read_text(errors='replace')[-4000:]}", file=sys.stderr)

    per_small = small_cpu / (small * ROUNDS) * 1000
    per_big = big_cpu / (big * ROUNDS) * 1000
    figures = _latency(f"{big} forward sessions, {small} symbols: bar -> all recorded", big_ms, 1000)
    figures += _latency(f"{small} forward sessions, {small} symbols: bar -> all recorded", small_ms, None)
    figures += [
        Figure(f"runner CPU per decision, {small} sessions ({ROUNDS} rounds)", per_small, "ms"),
        Figure(f"runner CPU per decision, {big} sessions ({ROUNDS} rounds)", per_big, "ms"),
        Figure(f"runner CPU per decision: {big} / {small} sessions", per_big / per_small, "x"),
        Figure(f"runner CPU while idle (lease rounds, heartbeat), holding {small} sessions", small_idle * 1000, "ms/s"),
        Figure(f"runner CPU while idle (lease rounds, heartbeat), holding {big} sessions", big_idle * 1000, "ms/s"),
    ]
    figures += _latency("broker session: bar -> order.place on the command stream", broker_ms, 20)
    return figures


def _latency(name: str, samples: list[float], p99_goal: float | None) -> list[Figure]:
    """The median (p50), p99 (with its goal) and max of ``samples``."""
    figures = latency_figures(name, samples, {"p99": p99_goal} if p99_goal is not None else {})
    return [f for f in figures if not f.name.endswith("p99.9")]


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
