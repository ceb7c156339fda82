"""The whole desk on loopback for browser tests: simulator, worker, bridge+relay and daphne as subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from tradeconsole.tests.database import database_url

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


def process_env() -> dict[str, str]:
    """The test's own settings for a subprocess: the test database, this Redis db and prefix."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url()
    env["REDIS_URL"] = settings.REDIS_URL
    env["TRADECONSOLE_STREAM_PREFIX"] = settings.STREAM_PREFIX
    env["TRADECONSOLE_MODE"] = "test"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _offset_shim(folder: Path) -> Path:
    """scripts/realtime-offset.c built into ``folder`` (it shifts a process's wall clock only)."""
    shim = folder / "realtime-offset.so"
    source = ROOT / "scripts" / "realtime-offset.c"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(source)], check=True)
    return shim


class Stack:
    """Processes started by ``start``; ``url`` is daphne's base URL."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: dict[str, subprocess.Popen] = {}
        self.url = ""

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115  (closed when the process is stopped)
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def start(
        self,
        *,
        accounts: str,
        instruments: str,
        with_broker: bool = True,
        with_marketdata: bool = False,
        clock_offset: int | None = None,
    ) -> None:
        """Start the desk. ``with_marketdata``: the bar builder and history backfill too (its own TWS
        client id). ``clock_offset``: every process's wall clock is moved by that many seconds, as
        scripts/suite-at.sh moves the whole suite's (the same LD_PRELOAD shim; PostgreSQL, Redis and
        this test process keep the real clock)."""
        env = process_env()
        if clock_offset is not None:
            env.update(LD_PRELOAD=str(_offset_shim(self.logs)), REALTIME_OFFSET=str(int(clock_offset)))
        if with_broker:
            tws_port = free_port()
            self._spawn(
                "tws",
                [
                    sys.executable,
                    "-m",
                    "tws_simulator",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(tws_port),
                    "--accounts",
                    accounts,
                    "--seed",
                    "1",
                    "--instruments",
                    instruments,
                    "--fill-delay",
                    "0.2",
                ],
                env,
            )
            _wait_port(tws_port, 20)
            self._spawn(
                "execution",
                [
                    sys.executable,
                    "-m",
                    "execution_worker",
                    "--redis-url",
                    settings.REDIS_URL,
                    "--tws-port",
                    str(tws_port),
                    "--tws-client-id",
                    "7",
                    "--prefix",
                    settings.STREAM_PREFIX,
                    "--consumer",
                    "execution-browser-test",
                    "--md-symbols",
                    ",".join(i.split("=")[0] for i in instruments.split(",")),
                    "--fast-timers",
                ],
                env,
            )
            if with_marketdata:
                # The worker has client id 7; history and contract lookups ask on a session of their own.
                broker = {"TWS_HOST": "127.0.0.1", "TWS_PORT": str(tws_port), "MARKETDATA_TWS_CLIENT_ID": "8"}
                self._spawn("marketdata", [sys.executable, "manage.py", "marketdata"], {**env, **broker})
        self._spawn("bridge", [sys.executable, "manage.py", "stream_bridge", "--poll", "0.2"], env)
        web_port = free_port()
        self._spawn(
            "web",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port), "tradeconsole.asgi:application"],
            env,
        )
        self.url = f"http://127.0.0.1:{web_port}"
        _wait_http(self.url + "/health/live", 30)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@contextmanager
def running_stack(logs: Path, **kwargs):
    stack = Stack(logs)
    try:
        stack.start(**kwargs)
        yield stack
    finally:
        stack.stop()
