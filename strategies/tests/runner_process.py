"""The strategy runner as a process for the tests: ``manage.py strategy_runner`` on the test's database, Redis and
prefix, a strategy that decides on every bar, and bars made around the real clock (a subprocess cannot be
time-machined)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from marketdata.bars import BarRecord
from strategies.engine.tests.helpers import bar
from strategies.models import TradingSession
from streams.tests.stack import process_env

ROOT = Path(__file__).resolve().parents[2]
MINUTE = 60


def _node(node_id: str, kind: str, **params) -> dict:
    return {"id": node_id, "type": kind, "data": {"params": params}, "position": {"x": 0, "y": 0}}


def _edge(source: str, out: str, target: str, port: str) -> dict:
    return {"id": f"{source}.{out}-{target}.{port}", "source": source, "sourceHandle": out, "target": target,
            "targetHandle": port}  # fmt: skip


# Long 10 on a bar that closes up, short 10 on one that closes down: on bars that alternate, a decision every bar.
EVERY_BAR = {
    "nodes": [
        _node("bar", "bar"),
        _node("up", "compare", operator=">"),
        _node("down", "compare", operator="<"),
        _node("size", "fixed_quantity", quantity=10),
        _node("buy", "buy"),
        _node("sell", "sell"),
    ],
    "edges": [
        _edge("bar", "close", "up", "a"),
        _edge("bar", "open", "up", "b"),
        _edge("bar", "close", "down", "a"),
        _edge("bar", "open", "down", "b"),
        _edge("up", "result", "buy", "when"),
        _edge("down", "result", "sell", "when"),
        _edge("size", "sizing", "buy", "sizing"),
        _edge("size", "sizing", "sell", "sizing"),
    ],
}


def alternating(first: int, count: int) -> list[BarRecord]:
    """``count`` closed one-minute AAPL bars from ``first`` on, closing up and down in turn."""
    return [
        bar(first + i * MINUTE, 100.0, 101.0, 99.0, 100.5 if (first // MINUTE + i) % 2 else 99.5) for i in range(count)
    ]


class Bars:
    """Bars around the real clock: the warm history before now, and live ones from the minute the first is sent.

    Make it before the session starts and send the first live bar after: that bar then starts
    less than a minute before the session started running, so the runner decides on it (a bar
    that closed before the session started is its history, however late it arrives).
    """

    def __init__(self, warm: int = 40) -> None:
        self.warm_until = int(time.time()) // MINUTE * MINUTE
        self.warm = alternating(self.warm_until - warm * MINUTE, warm)
        self.first_live: int | None = None
        self.sent: list[BarRecord] = []

    def next(self, count: int = 1) -> list[BarRecord]:
        if self.first_live is None:
            self.first_live = max(self.warm_until, int(time.time()) // MINUTE * MINUTE)
        made = alternating(self.first_live + len(self.sent) * MINUTE, count)
        self.sent.extend(made)
        return made


class RunnerProcess:
    """``manage.py strategy_runner`` in a subprocess on the test's database, Redis and prefix; its log in a file."""

    def __init__(self, logs: Path, name: str, *, lease: float = 2.0, env: dict | None = None, **options) -> None:
        self.name = name
        self.path = logs / f"runner-{name}.log"
        args = {
            "--name": name,
            "--poll": "0.2",
            "--lease": str(lease),
            **{f"--{k}": str(v) for k, v in options.items()},
        }
        command = [sys.executable, "manage.py", "strategy_runner", *[w for pair in args.items() for w in pair]]
        self._log = self.path.open("wb")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env={**process_env(), **(env or {})}, stdout=self._log, stderr=subprocess.STDOUT
        )

    def holds(self, session_id: int) -> bool:
        owner = TradingSession.objects.filter(pk=session_id).values_list("lease_owner", flat=True).first() or ""
        return owner.startswith(f"{self.name}:")

    def log(self) -> str:
        return self.path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no lease is given back, nothing is finished."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._log.close()

    def stop(self) -> None:
        """SIGTERM, as the supervisor stops it (SIGKILL if it does not exit within 15 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


class Runners:
    """Every runner process a test starts, stopped at its end whatever happened."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.started: list[RunnerProcess] = []

    def start(self, name: str, **options) -> RunnerProcess:
        made = RunnerProcess(self.logs, name, **options)
        self.started.append(made)
        return made

    def logs_text(self) -> str:
        return "\n".join(f"--- {r.name}\n{r.log()[-3000:]}" for r in self.started)

    def stop_all(self) -> None:
        for made in self.started:
            made.kill()


def wait_for(predicate, timeout: float, what: str, runners: Runners | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{runners.logs_text() if runners else ''}")
