"""Start real ``celery worker`` and ``celery beat`` subprocesses on this test run's database and Redis.

Every process runs in its own session (so a kill reaches its pool children), writes its output to
a file the test can read, and is stopped by its pid; every wait is bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CELERY = [sys.executable, "-m", "celery", "-A", "tradeconsole"]


def subprocess_env(**overrides: str) -> dict[str, str]:
    """Return the environment of a subprocess that shares this test's database, Redis db and prefix."""
    database = connection.settings_dict
    env = dict(os.environ)
    env.update(
        {
            "TRADECONSOLE_MODE": "test",
            "DATABASE_URL": f"postgres://{database['USER'] or 'root'}@{database['HOST'] or '127.0.0.1'}:"
            f"{database['PORT'] or 5432}/{database['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "TRADECONSOLE_STREAM_PREFIX": settings.STREAM_PREFIX,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


class Process:
    """One Celery subprocess and its log file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._file = log.open("wb")
        self.popen = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._file, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.popen.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the process and its pool children at once, as a crash would."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        """Ask for a warm shutdown; kill whatever is left after ``timeout`` seconds."""
        if self.popen.poll() is None:
            self.signal_group(signal.SIGCONT)
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.popen.wait(timeout=10)
        self._file.close()

    def alive(self) -> bool:
        return self.popen.poll() is None


def start_worker(tmp_path: Path, name: str, env: dict[str, str], concurrency: int = 1) -> Process:
    """Start a prefork worker (the production pool) named ``name``."""
    args = [
        *CELERY,
        "worker",
        "--loglevel=INFO",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--hostname={name}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    return Process(args, env, tmp_path / f"{name}.log")


def start_beat(tmp_path: Path, name: str, env: dict[str, str]) -> Process:
    """Start a beat process with its own schedule file (two beats must not share one)."""
    # DEBUG: beat's "Sending due task" lines of the routine schedules are lowered to DEBUG
    # (tradeconsole.logs.RoutineTaskAtDebug), and the tests count them.
    args = [*CELERY, "beat", "--loglevel=DEBUG", f"--schedule={tmp_path / (name + '-schedule')}"]
    return Process(args, env, tmp_path / f"{name}.log")


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.1, what: str = "") -> None:
    """Poll ``condition`` until it is true.

    :raises AssertionError: still false after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")


def worker_ready(process: Process) -> bool:
    if not process.alive():
        raise AssertionError(f"the worker exited:\n{process.output()[-3000:]}")
    return " ready." in process.output()


def purge_broker() -> None:
    """Delete every Celery key of this test run's prefix, so no task of an earlier test is delivered."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        for key in client.scan_iter(f"{settings.STREAM_PREFIX}:celery:*"):
            client.delete(key)
    finally:
        client.close()
