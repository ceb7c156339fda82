"""Simulator: runs the paper TWS on an asyncio loop in a background thread, with its timers and state file.

Why asyncio on one thread: every connection, timer and control command touches broker state on the
same thread, so the engine needs no locks and each request is handled in a few microseconds; the
loop's selector drains every socket as soon as bytes arrive (the arrival stamp is taken in
``data_received``), and writes go through non-blocking transports, so a client that stops reading
only grows its own buffer and never stalls the others.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from tws_simulator.config import SimulatorConfig
from tws_simulator.connection import Connection
from tws_simulator.control import Control, serve_control
from tws_simulator.engine import Engine
from tws_simulator.faults import Faults
from tws_simulator.ledger import Ledger
from tws_simulator.market import Quote, tick_frames
from tws_simulator.ports import Client

log = logging.getLogger("tws_simulator")


class Simulator:
    """A paper TWS. ``start()`` serves from a background thread; ``stop()`` closes everything.

    Attributes other threads may use: ``port`` (bound port), ``control`` (fault controls, see
    :class:`tws_simulator.control.Control`), ``ledger`` (:class:`Ledger`), ``config``.
    Connections and controls see it as a :class:`tws_simulator.ports.Host`.
    """

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.ledger = Ledger()
        self.faults = Faults()
        self.control = Control(self)
        self.connections: set[Client] = set()
        self.loop: asyncio.AbstractEventLoop = asyncio.new_event_loop()
        self.engine = self._new_engine()
        self.port: int = self.config.port
        self.control_port: int | None = None
        self._server: asyncio.AbstractServer | None = None
        self._control_server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._stopped = threading.Event()
        if self.config.state_file and os.path.exists(self.config.state_file):
            with open(self.config.state_file) as fh:
                self.engine.restore(json.load(fh))

    def _new_engine(self) -> Engine:
        return Engine(self.config, self.ledger, self._schedule)

    def _schedule(self, delay: float, fn: Callable[[], None]) -> None:
        self.loop.call_later(delay, fn)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> Simulator:
        """Start serving in a background thread; return once the socket listens.

        :raises OSError: the port cannot be bound.
        :raises TimeoutError: the loop did not come up in ``timeout`` seconds.
        """
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._open())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

        self._thread = threading.Thread(target=run, name="tws-simulator", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("simulator did not start")
        if failure:
            raise failure[0]
        return self

    async def _open(self) -> None:
        await self._listen()
        if self.config.control_port is not None:
            self._control_server = await serve_control(self.control, self.config.control_host, self.config.control_port)
            self.control_port = self._control_server.sockets[0].getsockname()[1]
        if self.config.market_interval > 0:
            self._timers["market"] = self.loop.call_later(self.config.market_interval, self._market_tick)
        if self.config.bar_interval > 0:
            self._timers["bars"] = self.loop.call_later(self.config.bar_interval, self._bar_tick)
        if self.config.account_summary_interval > 0:
            self._timers["summary"] = self.loop.call_later(self.config.account_summary_interval, self._summary_tick)
        if self.config.state_file:
            self._timers["save"] = self.loop.call_later(2.0, self._save_tick)

    async def _listen(self) -> None:
        self._server = await self.loop.create_server(
            lambda: Connection(self), self.config.host, self.port, reuse_address=True, backlog=64
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection, save the state file, and end the thread."""
        if self._thread is None or not self._thread.is_alive():
            return

        async def shutdown() -> None:
            for timer in self._timers.values():
                timer.cancel()
            for server in (self._server, self._control_server):
                if server is not None:
                    server.close()
            for conn in list(self.connections):
                conn.close()
            self.save_state()
            await asyncio.sleep(0)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self._thread.join(timeout)
        self._stopped.set()

    def wait(self) -> None:
        """Block until :meth:`stop` finished."""
        self._stopped.wait()

    def call(self, fn: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run ``fn`` on the simulator's loop thread and return its result (re-raising its exception).

        :raises TimeoutError: the loop did not run it in ``timeout`` seconds.
        """
        if self._thread is None or threading.current_thread() is self._thread:
            return fn()

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout)

    def save_state(self) -> None:
        """Write the broker state to the state file (atomically), if one is configured."""
        path = self.config.state_file
        if not path:
            return
        tmp = f"{path}.tmp"
        with open(tmp, "w") as fh:
            json.dump(self.engine.snapshot(), fh)
        os.replace(tmp, path)
        self.engine.dirty = False

    # -- timers --------------------------------------------------------------------------------

    def _market_tick(self) -> None:
        self._timers["market"] = self.loop.call_later(self.config.market_interval, self._market_tick)
        if self.faults.market_frozen:
            return
        for symbol in list(self.engine.market.quotes):
            quote = self.engine.market.step(symbol)
            try:
                self.engine.on_market_step(symbol)
            except Exception:
                log.exception("matching %s failed", symbol)
            self.publish_quote(quote)

    def publish_quote(self, quote: Quote) -> None:
        """Stream ``quote`` to every market-data subscription of its symbol."""
        for conn in list(self.connections):
            if not conn.market_data:
                continue
            frames: list[bytes] = []
            for req_id, (symbol, delayed) in conn.market_data.items():
                if symbol == quote.symbol:
                    frames += tick_frames(req_id, quote, delayed)
            conn.send(frames)

    def _summary_tick(self) -> None:
        self._timers["summary"] = self.loop.call_later(self.config.account_summary_interval, self._summary_tick)
        self.publish_account_summaries()

    def publish_account_summaries(self) -> None:
        """Re-send every live account-summary and account-updates subscription with current values."""
        for conn in list(self.connections):
            for req_id, tags in list(conn.account_summaries.items()):
                conn.send(self.engine.account_summary_frames(req_id, tags))
            conn.refresh_account_updates()

    def _bar_tick(self) -> None:
        self._timers["bars"] = self.loop.call_later(self.config.bar_interval, self._bar_tick)
        for conn in list(self.connections):
            if conn.state == "ready":
                try:
                    conn.on_bar_timer()
                except Exception:
                    log.exception("bars for client %s failed", conn.client_id)

    def _save_tick(self) -> None:
        self._timers["save"] = self.loop.call_later(2.0, self._save_tick)
        if self.engine.dirty:
            try:
                self.save_state()
            except OSError:
                log.exception("saving the state file failed")

    # -- used by connections and the control API (loop thread) --------------------------------

    def register(self, conn: Client) -> None:
        """A client socket opened."""
        self.connections.add(conn)

    def unregister(self, conn: Client) -> None:
        """A client socket closed."""
        self.connections.discard(conn)

    def listening(self) -> bool:
        """True while the API port accepts connections."""
        return self._server is not None and self._server.is_serving()

    def close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def reopen_listener(self) -> None:
        if self._server is None:
            self.loop.create_task(self._listen())

    def reset_engine(self) -> None:
        """Forget all broker state (a TWS that restarted without its settings)."""
        self.engine = self._new_engine()

    def broadcast(self, frames: list[bytes]) -> None:
        """Send ``frames`` to every client past its handshake."""
        for conn in list(self.connections):
            if conn.state == "ready":
                conn.send(frames)
