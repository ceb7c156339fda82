"""Helpers of the benchmarks that drive the live pages: loopback ports, server processes, a signed-in cookie."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Wait until something listens on 127.0.0.1:``port`` (at most ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """Terminate ``processes``, killing any still alive after 10 s."""
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def wipe_prefix(client, prefix: str) -> None:
    """Delete every Redis key of the benchmark's private ``prefix``."""
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def session_cookie(user) -> str:
    """A ``Cookie`` header value signing ``user`` in, as the admin's sign-in would."""
    from django.conf import settings
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils.module_loading import import_string

    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    # The first backend that keeps users (django-axes' comes first and only guards sign-ins).
    session["_auth_user_backend"] = next(
        path for path in settings.AUTHENTICATION_BACKENDS if hasattr(import_string(path), "get_user")
    )
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def start_desk(port: int, bridge_args: list[str], logs: Path | None = None) -> list[subprocess.Popen]:
    """Start daphne on 127.0.0.1:``port`` and ``manage.py stream_bridge *bridge_args``; return them once ready.

    Their output goes to ``logs/web.log`` and ``logs/bridge.log`` when ``logs`` is given, else nowhere.
    """
    root = Path(__file__).resolve().parents[1]
    commands = {
        "web": [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tradeconsole.asgi:application"],
        "bridge": [sys.executable, "manage.py", "stream_bridge", *bridge_args],
    }
    processes = []
    for name, command in commands.items():
        out = open(logs / f"{name}.log", "wb") if logs else subprocess.DEVNULL  # noqa: SIM115  (lives with the process)
        processes.append(
            subprocess.Popen(command, cwd=root, env=dict(os.environ), stdout=out, stderr=subprocess.STDOUT)
        )
    wait_for_port(port)
    time.sleep(2.0)  # the bridge has created its group and is blocked on the stream
    return processes


async def live_socket(url: str, cookie: str, hello: dict, on_frame, stop) -> None:
    """Hold one live page's socket as the page's script does: say ``hello``, acknowledge every 20 frames.

    ``on_frame(frame, arrived_ns)`` sees every frame until ``stop`` (an ``asyncio.Event``) is set.
    """
    import asyncio
    import json

    import websockets

    async with websockets.connect(
        url,
        # The console's own origin, port included: another port of the same host is refused.
        additional_headers={"Cookie": cookie, "Origin": "http://" + url.split("/")[2]},
        max_size=2**22,
        open_timeout=20,
    ) as ws:
        await ws.send(json.dumps(hello))
        acked = 0
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.25)
            except TimeoutError:
                continue
            arrived = time.time_ns()
            frame = json.loads(raw)
            on_frame(frame, arrived)
            if frame["n"] - acked >= 20:
                acked = frame["n"]
                await ws.send(json.dumps({"type": "ack", "n": acked}))


def submitted_order(account, instrument):
    """An unsaved working order (BUY 100 LMT 10, submitted, from the API) for ``bulk_create``."""
    from decimal import Decimal

    from orders.models import Order, OrderStatus

    return Order(
        account=account,
        instrument=instrument,
        side="BUY",
        quantity=Decimal("100"),
        order_type="LMT",
        limit_price=Decimal("10"),
        status=OrderStatus.SUBMITTED,
        source="api",
    )
