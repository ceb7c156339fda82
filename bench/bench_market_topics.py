"""Market topics: tick -> bars.update at a subscribed client (goal p99 <= 50 ms, zero updates lost).

200 symbols x 5 ticks/s; 100 WebSocket clients of 10 bars topics each (every symbol at every
resolution, 1,000 topics), against real daphne processes on free loopback ports with a private
database and key prefix. The clients are real ``websockets`` clients in 4 processes of their own
(``bench.market_topics_load``). A tick's price encodes its number, so each update is matched to
its tick.

The bar builder (``manage.py marketdata``) is in the loop: each trade is written as the worker
writes it (``md.tick`` entries on ``{prefix}:md:<symbol>``, price then size), and the figure is
tick written -> the builder's bar update decoded at the client. The bench's instruments name no
exchange, so they take the builder's default calendar: NYSE while its session is open, else
exchange_calendars' ``24/7`` (as a crypto listing would), so the builder does the same work at
any hour (every resolution, 200 one-minute bars closing at each minute); the label says which.
With ``TC_BENCH_MARKET_TOPICS_BUILDER=0`` the bench writes each tick's bar changes itself, in
the tick's transaction, as the builder writes them (forming bar, then the update on
``{prefix}:bars:updates``, one per resolution), and the figure leaves the builder's own time out.
Lost: a jump in ``seq``, and without the builder any update a client should have had that never
arrived; with it (the builder may fold trades it reads together into one update) a topic whose
last update is not its symbol's last trade.

The clients are spread over ``TC_BENCH_MARKET_TOPICS_WEB`` daphne processes (2), each with its
own hub, as behind a load balancer. Beside the latency: the web processes' CPU time per 1,000
updates, the clients' decode time and the bytes per ``bars.update`` (the figures msgpack was
weighed by, see marketdata/topics/encoding.py). ``TC_BENCH_MARKET_TOPICS_SECONDS`` (15) bounds
the run.
"""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import redis

from bench import live_rig
from bench.database import setup_django
from bench.market_topics_load import run_clients
from bench.report import Figure, latency_figures

SYMBOLS = 200
TICKS_PER_SECOND_PER_SYMBOL = 5
CLIENTS = 100
TOPICS_PER_CLIENT = 10
CLIENT_PROCESSES = 4
# Web processes, each with its own hub, the clients spread over them as a load balancer would.
WEB_PROCESSES = int(os.environ.get("TC_BENCH_MARKET_TOPICS_WEB", "2"))
SECONDS = float(os.environ.get("TC_BENCH_MARKET_TOPICS_SECONDS", "15"))
SETTLE_SECONDS = 2.0
RESOLUTIONS = (("1", 60), ("5", 300), ("15", 900), ("60", 3600), ("1D", 86_400))
GOALS = {"p99": 50.0}
LOAD = f"{SYMBOLS} symbols x {TICKS_PER_SECOND_PER_SYMBOL} ticks/s, {CLIENTS} clients x {TOPICS_PER_CLIENT} topics"


def symbols() -> list[str]:
    return [f"MT{n:03d}" for n in range(SYMBOLS)]


def plan() -> list[list[tuple[str, str]]]:
    """Each client's topics: together every symbol at every resolution once (1,000 topics)."""
    names = symbols()
    clients = []
    for client in range(CLIENTS):
        resolution = RESOLUTIONS[client * len(RESOLUTIONS) // CLIENTS][0]
        first = (client % (CLIENTS // len(RESOLUTIONS))) * TOPICS_PER_CLIENT
        clients.append([(names[first + n], resolution) for n in range(TOPICS_PER_CLIENT)])
    return clients


def price_of(number: int) -> Decimal:
    return Decimal(10_000 + number) / 100


def number_of(close: str) -> int:
    return int(Decimal(close) * 100) - 10_000


class TickWriter:
    """Writes ticks and their bar changes as the worker and the builder would, paced, remembering when."""

    def __init__(self, client: redis.Redis, prefix: str, *, bars: bool = True) -> None:
        from execution_worker import messages as m
        from marketdata.bars import BarRecord
        from marketdata.keys import MarketKeys

        self.m, self.BarRecord, self.keys = m, BarRecord, MarketKeys(prefix)
        self.client = client
        # False: the bar builder (manage.py marketdata) is in the loop and makes the bars itself.
        self.bars = bars
        self.numbers = dict.fromkeys(symbols(), 0)
        self.forming: dict[tuple[str, str], object] = {}
        self.sent: dict[tuple[str, int], int] = {}

    def tick(self, symbol: str) -> None:
        number = self.numbers[symbol] = self.numbers[symbol] + 1
        price = price_of(number)
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        ask = price + Decimal("0.01")
        if not self.bars:
            # As ibapi delivers a trade and the worker writes it: tickPrice(LAST), then tickSize(LAST_SIZE).
            for size in (Decimal(2), Decimal(1)):
                tick = self.m.MarketData(symbol=symbol, bid=price, ask=ask, last=price, last_size=size)
                pipe.xadd(self.keys.ticks(symbol), self.m.encode(tick), maxlen=1000, approximate=True)
            self.sent[(symbol, number)] = time.time_ns()
            pipe.execute()
            return
        tick = self.m.MarketData(symbol=symbol, bid=price, ask=ask, last=price, last_size=Decimal(1))
        pipe.xadd(self.keys.ticks(symbol), self.m.encode(tick), maxlen=1000, approximate=True)
        for code, seconds in RESOLUTIONS:
            start = int(now) // seconds * seconds
            bar = self.forming.get((symbol, code))
            if bar is None or bar.time != start:
                bar = self.BarRecord(symbol, code, start, price, price, price, price, Decimal(1))
            else:
                bar = bar.with_trade(price, Decimal(1))
            self.forming[(symbol, code)] = bar
            encoded = bar.encode()
            pipe.set(self.keys.forming_bar(symbol, code), encoded)
            pipe.xadd(self.keys.bar_updates, {"bar": encoded}, maxlen=100_000, approximate=True)
        self.sent[(symbol, number)] = time.time_ns()
        pipe.execute()

    def run(self, seconds: float) -> int:
        """Write 200 x 5 ticks a second, round robin, for ``seconds``; return how many were written."""
        names = symbols()
        interval = 1.0 / (len(names) * TICKS_PER_SECOND_PER_SYMBOL)
        started = time.monotonic()
        written = 0
        while True:
            due = started + written * interval
            now = time.monotonic()
            if due - started >= seconds:
                return written
            if due > now:
                time.sleep(due - now)
            self.tick(names[written % len(names)])
            written += 1


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _phase(urls: list[str], cookie: str, writer: TickWriter, subprotocol: str, web_pids: list[int]) -> dict:
    context = multiprocessing.get_context("spawn")
    ready, results, stop = context.Queue(), context.Queue(), context.Event()
    clients = plan()
    placed = [(urls[n % len(urls)], topics) for n, topics in enumerate(clients)]
    shares = [placed[n::CLIENT_PROCESSES] for n in range(CLIENT_PROCESSES)]
    processes = [
        context.Process(target=run_clients, args=(cookie, share, subprotocol, ready, stop, results)) for share in shares
    ]
    for process in processes:
        process.start()
    try:
        for _ in processes:
            ready.get(timeout=120)
        first = dict(writer.numbers)
        cpu_before = sum(_cpu_seconds(pid) for pid in web_pids)
        # The bench's own collections stay out of the figures: a tick is stamped as its pipeline is
        # sent, and a full collection of this process's heap (Django, pandas, the growing stamps)
        # inside that send held one tick 161 ms, charged to the builder. As timeit does, none run
        # while the ticks are written; what this process loaded before is frozen out of the rest.
        from tradeconsole.startup_memory import freeze_startup_objects  # after setup_django's settings

        freeze_startup_objects()
        gc.disable()
        try:
            written = writer.run(SECONDS)
        finally:
            gc.enable()
        time.sleep(SETTLE_SECONDS)
        cpu = sum(_cpu_seconds(pid) for pid in web_pids) - cpu_before
        stop.set()
        outputs = [results.get(timeout=60) for _ in processes]
    finally:
        stop.set()
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.terminate()
    last = dict(writer.numbers)
    return {"outputs": outputs, "first": first, "last": last, "written": written, "cpu": cpu, "clients": clients}


def _measure(phase: dict, writer: TickWriter) -> tuple[list[float], int, int, float, float, list[str]]:
    """(latencies ms, lost, updates, decode µs per update, bytes per update, errors)."""
    errors, received, last_close = [], {}, {}
    # A tick's latency at a topic is to the first update that shows it: the update of the bar's
    # closing repeats the close of its last trade, up to a second later (when the next trade, or
    # the builder's timer, closes it), and is not that trade arriving late.
    first: dict[tuple[str, int], int] = {}
    decode_ns = size = 0
    for updates, decoded, nbytes, failures in phase["outputs"]:
        decode_ns += decoded
        size += nbytes
        errors += failures
        for topic, seq, close, arrived in updates:
            number = number_of(close)
            received.setdefault(topic, []).append(seq)
            last_close[topic] = number
            if (topic, number) not in first or arrived < first[(topic, number)]:
                first[(topic, number)] = arrived
    latencies = []
    for (topic, number), arrived in first.items():
        sent = writer.sent.get((topic.split(":")[1], number))
        if sent is not None:
            latencies.append((arrived - sent) / 1e6)
    lost = 0
    for topics in phase["clients"]:
        for symbol, resolution in topics:
            topic = f"bars:{symbol}:{resolution}"
            seqs = received.get(topic, [])
            gaps = sum(1 for a, b in itertools.pairwise(seqs) if b != a + 1)
            if writer.bars:
                # One update per tick, exactly: each one missing is lost.
                lost += max(0, phase["last"][symbol] - phase["first"][symbol] - len(seqs)) + gaps
            else:
                # The builder may fold trades it reads together into one update: what must hold
                # is no gap and the topic's last update carrying the symbol's last trade.
                lost += gaps + (last_close.get(topic) != phase["last"][symbol])
    count = sum(len(v) for v in received.values())
    return latencies, lost, count, decode_ns / max(count, 1) / 1000, size / max(count, 1), errors


def _builder_calendar() -> str | None:
    """The calendar the bar builder runs on in the loop (None: ``TC_BENCH_MARKET_TOPICS_BUILDER=0``,
    the bench writes the bars itself): NYSE while its session is open for the next five minutes,
    else ``24/7``, whose sessions are whole UTC days, so the builder has bars to build at any hour."""
    import exchange_calendars
    import pandas as pd

    if os.environ.get("TC_BENCH_MARKET_TOPICS_BUILDER", "1") == "0":
        return None
    calendar = exchange_calendars.get_calendar("XNYS")
    now = pd.Timestamp.now(tz="UTC").floor("min")
    if calendar.is_trading_minute(now) and calendar.is_trading_minute(now + pd.Timedelta(minutes=5)):
        return "XNYS"
    return "24/7"


def _start_builder(writer: TickWriter, logs: Path, calendar: str) -> subprocess.Popen:
    """Start ``manage.py marketdata`` (its broker loop pointed at a port nothing listens on) on the
    exchange calendar ``calendar`` once each symbol's tick stream exists, and wait until it follows
    them all (it writes each one's offset)."""
    for name in symbols():
        writer.tick(name)
    env = {
        **os.environ,
        "TWS_PORT": str(live_rig.free_port()),
        "MARKETDATA_BACKFILL_DAYS": "0",
        "TRADECONSOLE_MARKETDATA_CALENDAR": calendar,
    }
    builder = subprocess.Popen(
        [sys.executable, "manage.py", "marketdata"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        stdout=open(logs / "marketdata.log", "wb"),  # noqa: SIM115  (lives with the process)
        stderr=subprocess.STDOUT,
    )
    # A fixed wait was too short on a busy machine: the builder's start (Django, the calendar) then
    # fell inside the measured seconds.
    deadline = time.monotonic() + 120
    while writer.client.hlen(writer.keys.ticks_read) < SYMBOLS and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    return builder


def main() -> list[Figure]:
    prefix = f"tcbench{uuid.uuid4().hex[:8]}"
    os.environ["TRADECONSOLE_STREAM_PREFIX"] = prefix
    setup_django("market_topics")
    from django.conf import settings

    from accounts.models import User
    from orders.models import Instrument

    settings.STREAM_PREFIX = prefix
    Instrument.objects.bulk_create([Instrument(symbol=name, last_price=Decimal("100")) for name in symbols()])
    user = User.objects.create(username="bench-market", is_staff=True, is_superuser=True)
    cookie = live_rig.session_cookie(user)
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    calendar = _builder_calendar()
    builder = calendar is not None
    writer = TickWriter(client, prefix, bars=not builder)
    logs = Path(tempfile.mkdtemp(prefix="bench-market-topics-"))
    ports = [live_rig.free_port() for _ in range(WEB_PROCESSES)]
    webs = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tradeconsole.asgi:application"],
            cwd=Path(__file__).resolve().parents[1],
            env=dict(os.environ),
            stdout=open(logs / f"web-{port}.log", "wb"),  # noqa: SIM115  (lives with the process)
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    # The builder is stopped with the web processes but kept out of their CPU figure.
    others = [_start_builder(writer, logs, calendar)] if builder else []
    figures: list[Figure] = []
    try:
        for port in ports:
            live_rig.wait_for_port(port)
        urls = [f"ws://127.0.0.1:{port}/ws/market/" for port in ports]
        for subprotocol in ("tc.json",):
            phase = _phase(urls, cookie, writer, subprotocol, [web.pid for web in webs])
            latencies, lost, count, decode_us, size, errors = _measure(phase, writer)
            how = (
                f"bar builder in the loop, {calendar} calendar"
                if builder
                else "bars written as the builder would, builder not in the loop"
            )
            label = f"market topics {subprotocol}, tick->bars.update ({LOAD}; {how})"
            figures += [
                f for f in latency_figures(label, latencies or [float("inf")], GOALS) if not f.name.endswith("99.9")
            ]
            figures.append(Figure(f"market topics {subprotocol}, updates lost", lost, "updates", 0))
            figures.append(Figure(f"market topics {subprotocol}, updates received", count, "updates"))
            figures.append(Figure(f"market topics {subprotocol}, errors at clients", len(errors), "errors", 0))
            figures.append(
                Figure(
                    f"market topics {subprotocol}, daphne CPU ({WEB_PROCESSES} processes) per 1,000 updates sent",
                    phase["cpu"] / max(count, 1) * 1000 * 1000,
                    "ms",
                )
            )
            figures.append(Figure(f"market topics {subprotocol}, client decode per update", decode_us, "µs"))
            figures.append(Figure(f"market topics {subprotocol}, bytes per bars.update", size, "bytes"))
            figures.append(Figure(f"market topics {subprotocol}, ticks written", phase["written"], "ticks"))
            if errors:
                print(f"   {subprotocol} errors: {errors[:5]} (logs in {logs})", flush=True)
    finally:
        live_rig.stop_processes(webs + others)
        live_rig.wipe_prefix(client, prefix)
    return figures


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
