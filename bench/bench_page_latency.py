"""Live pages: a change made through a service -> its row on every open page that shows it (goal p99 <= 1 s).

The one route to the pages (``streams.publish``), measured end to end on loopback: daphne and
``manage.py stream_bridge`` (relay and bridge) run as subprocesses on a private database and key
prefix; this process holds N simulated pages of each kind (Desk, Strategy sessions, Orders
blotter) as WebSocket clients signed in with a session cookie, and makes changes by three
actors in turn:

- an API call to daphne (session start, kill switch engage/release): published by the web process;
- a service called in this process, as a Celery task would (account halt/resume, an alert raised
  and resolved by the monitor): published by the caller's process;
- a broker event XADDed to ``{prefix}:events`` (an order's status): applied and published by the bridge.

Each sample is one (change, page) pair: from just before the change is asked for to the first
frame carrying its row on that page. A change whose row never arrives counts as lost (goal 0).
``TC_BENCH_PAGE_LATENCY_PAGES`` (8 per kind) and ``TC_BENCH_PAGE_LATENCY_ROUNDS`` (30 rounds of
5 changes, 0.15 s apart) bound the run, well under a minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import redis

from bench import live_rig
from bench.database import setup_django
from bench.report import Figure, latency_figures

ROOT = Path(__file__).resolve().parents[1]
PAGES = int(os.environ.get("TC_BENCH_PAGE_LATENCY_PAGES", "8"))
ROUNDS = int(os.environ.get("TC_BENCH_PAGE_LATENCY_ROUNDS", "30"))
GAP_SECONDS = 0.15
# Rows still missing this long after the last change are lost.
SETTLE_SECONDS = 3.0
GOALS = {"p99": 1000.0}
ACCOUNT = "BEN0000002"


@dataclass
class Page:
    """One simulated open page: when each row arrived (wall clock, ns)."""

    kind: str
    arrivals: list[tuple[str, int]] = field(default_factory=list)
    resyncs: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Change:
    """One change asked for at ``asked_ns``: which row it moves, on which kind of page."""

    name: str
    page_kind: str
    row_id: str
    asked_ns: int


async def _page(url: str, cookie: str, page: Page, stop: asyncio.Event) -> None:
    def on_frame(frame: dict, arrived: int) -> None:
        if frame["t"] == "ready":
            page.ready.set()
        elif frame["t"] in ("resync", "error"):
            page.resyncs += 1
        elif frame["t"] == "rows":
            page.arrivals.extend((row["id"], arrived) for row in frame["rows"])

    # An empty cursor: every group starts from its current sequence number.
    hello = {"type": "hello", "epoch": await asyncio.to_thread(_epoch), "cursor": {}}
    await live_rig.live_socket(url, cookie, hello, on_frame, stop)


def _epoch() -> str:
    from streams import live

    return live.epoch()


class _Rig:
    """The private database and prefix, the desk's rows, daphne and stream_bridge as subprocesses."""

    def __init__(self) -> None:
        self.prefix = f"tcbench{uuid.uuid4().hex[:8]}"
        os.environ["TRADECONSOLE_STREAM_PREFIX"] = self.prefix
        setup_django("page_latency")
        from django.conf import settings

        settings.STREAM_PREFIX = self.prefix
        self.redis = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
        self.processes: list[subprocess.Popen] = []

    def setup_rows(self) -> None:
        from knox.models import AuthToken

        from accounts.models import AccountMembership, BrokerAccount, User
        from orders.models import Instrument, Order, RiskLimit
        from strategies.models import Strategy, TradingSession

        self.account = BrokerAccount.objects.create(code=ACCOUNT, name="Page latency benchmark")
        RiskLimit.objects.get_or_create(account=self.account)
        instrument = Instrument.objects.create(symbol="BENCHPG", last_price=Decimal("10"))
        user = User.objects.create(username="bench-pages", is_staff=True, is_superuser=True)
        AccountMembership.objects.create(user=user, account=self.account)
        strategy = Strategy.objects.create(name="Bench", enabled=True)
        self.sessions = [TradingSession.objects.create(strategy=strategy, account=self.account) for _ in range(ROUNDS)]
        self.orders = Order.objects.bulk_create(
            [live_rig.submitted_order(self.account, instrument) for _ in range(ROUNDS)]
        )
        self.cookie = live_rig.session_cookie(user)
        _, self.token = AuthToken.objects.create(user=user)

    def start(self) -> None:
        self.port = live_rig.free_port()
        self.logs = Path(tempfile.mkdtemp(prefix="bench-page-latency-"))
        self.processes = live_rig.start_desk(self.port, ["--consumer", "bench-pages", "--poll", "0.2"], self.logs)

    def stop(self) -> None:
        live_rig.stop_processes(self.processes)
        live_rig.wipe_prefix(self.redis, self.prefix)

    def api_post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/{path}",
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            if response.status != 200:
                raise RuntimeError(f"POST {path}: {response.status}")

    def change(self, round_: int, step: int) -> Change:
        """Make change ``step`` of round ``round_`` through its actor; return what it moves."""
        from accounts.services import account_halt, account_resume, alert_raise, alert_resolve
        from execution_worker import messages as m

        asked = time.time_ns()
        if step == 0:
            session = self.sessions[round_]
            self.api_post(f"trading-sessions/{session.pk}/start/", {})
            return Change("session start (API, web process)", "sessions", f"session-{session.pk}", asked)
        if step == 1:
            if round_ % 2 == 0:
                self.api_post("kill-switch/engage/", {"reason": f"bench {round_}", "cancel_working": False})
            else:
                self.api_post("kill-switch/release/", {})
            return Change("kill switch engage/release (API, web process)", "desk", "kill-switch", asked)
        if step == 2:
            if round_ % 2 == 0:
                account_halt(account=self.account, actor=None, reason=f"bench {round_}", via="bench")
            else:
                account_resume(account=self.account, actor=None, via="bench")
            return Change("account halt/resume (task, caller's process)", "desk", f"account-{self.account.pk}", asked)
        if step == 3:
            key = f"bench.{round_ // 2}"
            if round_ % 2 == 0:
                self.alert = alert_raise(key=key, kind="bench", message=f"bench {round_}", account=self.account)
            else:
                alert_resolve(key=key)
            return Change("alert raise/resolve (task, caller's process)", "desk", f"alert-{self.alert.pk}", asked)
        order = self.orders[round_]
        status = m.OrderStatus(
            client_order_id=str(order.client_order_id),
            order_id=2000 + round_,
            perm_id=9000 + round_,
            status="Submitted",
            filled=Decimal("0"),
            remaining=Decimal("100"),
            avg_fill_price=Decimal("0"),
        )
        self.redis.xadd(f"{self.prefix}:events", m.encode(status))
        return Change("order status (broker event, bridge process)", "blotter", f"order-{order.pk}", asked)


async def _run(rig: _Rig) -> tuple[list[Page], list[Change]]:
    urls = {kind: f"ws://127.0.0.1:{rig.port}/ws/live/?page={kind}" for kind in ("desk", "sessions", "blotter")}
    stop = asyncio.Event()
    pages = [Page(kind) for kind in urls for _ in range(PAGES)]
    tasks = []
    for page in pages:
        tasks.append(asyncio.create_task(_page(urls[page.kind], rig.cookie, page, stop)))
        await asyncio.sleep(0.01)
    try:
        await asyncio.wait_for(asyncio.gather(*(page.ready.wait() for page in pages)), timeout=60)
    except TimeoutError:
        failed = [task.exception() for task in tasks if task.done() and task.exception()]
        raise RuntimeError(f"pages not ready: {failed[:3]!r} (logs in {rig.logs})") from None
    changes = []
    for round_ in range(ROUNDS):
        for step in range(5):
            changes.append(await asyncio.to_thread(rig.change, round_, step))
            await asyncio.sleep(GAP_SECONDS)
    await asyncio.sleep(SETTLE_SECONDS)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return pages, changes


def _latencies(pages: list[Page], changes: list[Change]) -> tuple[dict[str, list[float]], int]:
    """Per change name, the latency (ms) of each (change, page) pair; and how many pairs never arrived.

    A change's row counts when it arrives after the change was asked for and before the next
    change of the same row was.
    """
    by_name: dict[str, list[float]] = {}
    lost = 0
    for index, change in enumerate(changes):
        later = [c.asked_ns for c in changes[index + 1 :] if c.row_id == change.row_id]
        until = later[0] if later else None
        for page in pages:
            if page.kind != change.page_kind:
                continue
            arrived = next(
                (
                    at
                    for row_id, at in page.arrivals
                    if row_id == change.row_id and at >= change.asked_ns and (until is None or at < until)
                ),
                None,
            )
            if arrived is None:
                lost += 1
            else:
                by_name.setdefault(change.name, []).append((arrived - change.asked_ns) / 1e6)
    return by_name, lost


def main() -> list[Figure]:
    rig = _Rig()
    rig.setup_rows()
    rig.start()
    try:
        pages, changes = asyncio.run(_run(rig))
    finally:
        rig.stop()
    by_name, lost = _latencies(pages, changes)
    figures = []
    for name, samples in by_name.items():
        label = f"page latency, {name}, {PAGES} pages"
        figures += [f for f in latency_figures(label, samples, GOALS) if f.name.endswith(("p50", "p99"))]
    everything = [ms for samples in by_name.values() for ms in samples]
    label = f"page latency, every change ({len(changes)} changes x {PAGES} pages), change->page"
    figures += [f for f in latency_figures(label, everything or [float("inf")], GOALS) if not f.name.endswith("99.9")]
    figures.append(Figure("page latency, (change, page) pairs lost", lost, "pairs", 0))
    figures.append(Figure("page latency, resyncs asked by the server", sum(p.resyncs for p in pages), "", 0))
    return figures


if __name__ == "__main__":
    for figure in main():
        print(figure.line())
