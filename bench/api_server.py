"""The API server of ``bench api_orders``: what serves the order POST, started and stopped by pid, and its CPU.

gunicorn serving ``tradeconsole.wsgi:application`` (the Procfile's ``api`` process) or daphne (the
``web`` process) with ``TC_BENCH_API_SERVER=daphne``, with production settings as if behind a
TLS proxy, on a 127.0.0.1 port, in a session of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKERS = int(os.environ.get("TC_BENCH_API_WORKERS", str(max(2, (os.cpu_count() or 2) + 1))))
THREADS = int(os.environ.get("TC_BENCH_API_THREADS", "4"))
# What serves the API: "gunicorn" (the Procfile's `api` process) or "daphne" (the `web` process,
# which serves the API too), to compare them on the same machine.
SERVER = os.environ.get("TC_BENCH_API_SERVER", "gunicorn")
# The server runs as a desk runs it: production settings (no DEBUG, whose query log alone cost
# about 1 ms of CPU per POST), behind a TLS proxy, whose X-Forwarded-Proto header the clients send.
PRODUCTION_ENV = {
    "TRADECONSOLE_MODE": "production",
    "SECRET_KEY": "bench-api-orders-" + "x" * 50,
    "ALLOWED_HOSTS": "127.0.0.1",
}


def wait_ready(port: int, deadline: float) -> None:
    """Wait until the server listens on 127.0.0.1:``port``.

    :raises RuntimeError: nothing listened by ``deadline`` (``time.time()``).
    """
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the API server did not start in time")


def start_server(
    port: int,
    prefix: str,
    settings: str = "tradeconsole.settings",
    extra_env: dict[str, str] | None = None,
    log_file=None,
) -> subprocess.Popen:
    """Start the API server (``SERVER``) on 127.0.0.1:``port`` with Redis keys under ``prefix``, in a
    session of its own (``extra_env`` added to its environment); return it at once (``wait_ready`` waits for it).

    With ``log_file`` (an open file) the server logs at INFO, as in production, to that file;
    without, at WARNING to the bench's own stderr."""
    env = {
        **os.environ,
        **PRODUCTION_ENV,
        "TRADECONSOLE_STREAM_PREFIX": prefix,
        # The throttle is counted (one Redis round trip, as in production) but must not refuse.
        "TRADECONSOLE_API_ORDER_RATE": "100000000/min",
        "TRADECONSOLE_LOG_LEVEL": "INFO" if log_file is not None else "WARNING",
        "DJANGO_SETTINGS_MODULE": settings,
        **(extra_env or {}),
    }
    if SERVER == "daphne":
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tradeconsole.asgi:application"]
        return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True, stderr=log_file)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "tradeconsole.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "gthread",
            "--threads",
            str(THREADS),
            "--keep-alive",
            "30",
            "--log-level",
            "info" if log_file is not None else "warning",
            # Import the project once in the master, so workers start warm and alike.
            "--preload",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stderr=log_file,
    )


def stop(process: subprocess.Popen) -> None:
    """Stop ``process`` and its session: SIGTERM, then SIGKILL after 15 s."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def session_cpu_seconds(session: int) -> float | None:
    """Return the CPU seconds (user + system) used so far by the processes of ``session`` (Linux /proc).

    The server is started in a session of its own, so this is the server's whole process tree.
    None where /proc is not readable.
    """
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        if int(fields[3]) == session:  # field 6 of stat, the session id
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def server_label() -> str:
    """What served the API, as the figures name it."""
    return "daphne, one process" if SERVER == "daphne" else f"gunicorn {WORKERS}x{THREADS}"
