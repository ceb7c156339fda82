"""What the strategy runner benchmark sets up: an account, symbols with warm history, sessions, bars, processes.

Everything here writes with the ORM or one bulk statement straight into the bench's private
database (``bench.database``): the benchmark measures the runner, not the desk's session forms.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "DU0000001"
WARM_BARS = 500  # the runner's window (strategies.runtime.live_session.WINDOW_BARS): every bar recomputes over it


def _node(node_id: str, node_type: str, **params) -> dict:
    return {"id": node_id, "type": node_type, "data": {"params": params}, "position": {"x": 0, "y": 0}}


def _edge(source: str, out: str, target: str, into: str) -> dict:
    return {
        "id": f"{source}-{target}-{into}",
        "source": source,
        "sourceHandle": out,
        "target": target,
        "targetHandle": into,
    }


def every_bar_graph() -> dict:
    """Buy and sell 10 shares whenever the close is above 0: from flat it buys, then the book is long
    and the sell fires, then short and the buy fires: a decision on every bar, alternating."""
    nodes = [
        _node("bar", "bar"), _node("zero", "constant", value=0), _node("up", "compare", operator=">"),
        _node("size", "fixed_quantity", quantity=10), _node("buy", "buy"), _node("sell", "sell"),
    ]  # fmt: skip
    edges = [
        _edge("bar", "close", "up", "a"), _edge("zero", "value", "up", "b"),
        _edge("up", "result", "buy", "when"), _edge("up", "result", "sell", "when"),
        _edge("size", "sizing", "buy", "sizing"), _edge("size", "sizing", "sell", "sizing"),
    ]  # fmt: skip
    return {"nodes": nodes, "edges": edges}


def seed(symbols: int):
    """Create the account (wide limits), ``symbols`` instruments, the EMA crossover and every-bar
    strategies (the latter approved for broker sessions); return (account, instruments, ema, every_bar)."""
    from django.contrib.auth.models import Group

    from accounts.models import AccountMembership, BrokerAccount, Role, User
    from orders.models import Instrument, RiskLimit
    from strategies.models import Strategy
    from strategies.services import strategy_version_approve, strategy_version_save

    account = BrokerAccount.objects.create(code=ACCOUNT, name="Runner benchmark")
    # Wide limits: the benchmark measures the path to the command stream, not a refusal.
    RiskLimit.objects.create(
        account=account,
        max_order_quantity=Decimal("1000000"),
        max_order_notional=Decimal("1000000000"),
        max_position=Decimal("1000000000000"),
        max_daily_loss=Decimal("1000000000"),
        orders_per_minute=1_000_000,
    )
    instruments = Instrument.objects.bulk_create(
        Instrument(symbol=f"R{i:03d}", primary_exchange="NYSE", last_price=Decimal("100.00"), min_tick=Decimal("0.01"))
        for i in range(symbols)
    )
    template = json.loads((ROOT / "strategies/engine/templates/ema_crossover.json").read_text())
    versions = []
    for name, graph in (("bench-ema-crossover", template), ("bench-every-bar", every_bar_graph())):
        strategy = Strategy.objects.create(name=name)
        strategy.accounts.add(account)
        versions.append(strategy_version_save(actor=None, strategy=strategy, graph=graph, via="bench"))
    # A broker session's version is approved by a Risk manager of the account, as on the desk.
    risk = User.objects.create(username="bench-risk-manager")
    risk.groups.add(Group.objects.get(name=Role.RISK_MANAGER))
    AccountMembership.objects.create(user=risk, account=account)
    versions[1] = strategy_version_approve(actor=User.objects.get(pk=risk.pk), version=versions[1], via="bench")
    return account, instruments, versions[0], versions[1]


class Walk:
    """Each symbol's one-minute bars, a random walk, one closed bar a round for every symbol."""

    def __init__(self, instruments, first_time: int, seed_: int = 7) -> None:
        self.instruments = instruments
        self.rng = random.Random(seed_)
        self.price = {i.symbol: 100.0 for i in instruments}
        self.next_time = first_time

    def bars(self, instruments=None) -> list:
        """The next closed bar of each of ``instruments`` (default all), all at the same time."""
        from marketdata.bars import BarRecord

        t = self.next_time
        self.next_time += 60
        made = []
        for instrument in instruments or self.instruments:
            open_ = self.price[instrument.symbol]
            close = max(1.0, open_ + self.rng.gauss(0, 0.1))
            self.price[instrument.symbol] = close
            high, low = max(open_, close) + self.rng.random() * 0.05, min(open_, close) - self.rng.random() * 0.05
            prices = (Decimal(f"{x:.2f}") for x in (open_, high, low, close))
            made.append(BarRecord(instrument.symbol, "1", t, *prices, Decimal(self.rng.randint(100, 10_000)), True))
        return made


def store(instruments, bars) -> None:
    """Store ``bars`` (in the order of ``instruments``, or the instrument of each symbol) as the bar loop does."""
    from marketdata.models import Bar

    by_symbol = {i.symbol: i for i in instruments}
    Bar.objects.bulk_create(
        (
            Bar(
                instrument=by_symbol[b.symbol],
                resolution=b.resolution,
                start=datetime.fromtimestamp(b.time, tz=UTC),
                open=b.open,
                high=b.high,
                low=b.low,
                close=b.close,
                volume=b.volume,
            )
            for b in bars
        ),
        batch_size=5000,
    )


def warm_history(walk: Walk) -> None:
    """Store ``WARM_BARS`` bars of every symbol, ending just before the walk's next bar."""
    start = walk.next_time
    walk.next_time = start - WARM_BARS * 60
    rows = []
    for _ in range(WARM_BARS):
        rows += walk.bars()
    store(walk.instruments, rows)
    assert walk.next_time == start


def sessions(version, account, instruments, per_instrument: int, *, mode: str, since: datetime) -> list[int]:
    """Create ``per_instrument`` running sessions of ``version`` on each of ``instruments``, running
    since ``since`` (bars up to then are their history); return their ids."""
    from strategies.models import TradingSession

    rows = [
        TradingSession(
            strategy=version.strategy,
            version=version,
            account=account,
            instrument=instrument,
            resolution="1",
            mode=mode,
            status=TradingSession.Status.RUNNING,
            starting_equity=Decimal("100000"),
            started_at=since,
            running_since=since,
            fee_model="fixed",
        )
        for instrument in instruments
        for _ in range(per_instrument)
    ]
    return [s.pk for s in TradingSession.objects.bulk_create(rows)]


def start(command: list[str], log: Path) -> subprocess.Popen:
    """Start ``manage.py *command`` with this process's environment (the bench's database and prefix)."""
    out = open(log, "wb")  # noqa: SIM115  (lives with the process)
    return subprocess.Popen(
        [sys.executable, "manage.py", *command], cwd=ROOT, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen) -> None:
    """SIGTERM ``process`` (the runner gives its leases back), SIGKILL after 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; after the ")" the list starts at field 3.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait(predicate, timeout: float, what: str, step: float = 0.005):
    """Call ``predicate`` every ``step`` s until it is true; its value, or RuntimeError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)
