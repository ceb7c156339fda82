"""Fault controls and inspection of a running simulator, as a Python API and as a JSON-lines control port.

Every public method of :class:`Control` is also a control-port command: send one line
``{"cmd": "<method>", <keyword arguments>}`` and read one line back, ``{"ok": true, "result": ...}``
or ``{"ok": false, "error": "..."}``. ``{"cmd": "ledger"}`` returns the ledger.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from typing import Any

from tws_simulator import encoder as enc
from tws_simulator.faults import Faults
from tws_simulator.ports import Host

log = logging.getLogger("tws_simulator.control")


class Control:
    """Fault switches and inspection of a :class:`tws_simulator.ports.Host`.

    Callable from any thread; each call runs on the loop thread.
    """

    def __init__(self, sim: Host) -> None:
        self._sim = sim

    # -- connections ---------------------------------------------------------------------------

    def drop_connections(self, client_id: int | None = None) -> int:
        """Abruptly close every client socket (or only ``client_id``'s); return how many were closed."""

        def run() -> int:
            victims = [c for c in self._sim.connections if client_id is None or c.client_id == client_id]
            for conn in victims:
                conn.close()
            return len(victims)

        return self._sim.call(run)

    def refuse_connections(self, on: bool = True) -> None:
        """Stop listening (clients get ECONNREFUSED, ibapi reports 502), or listen again on the same port."""

        def run() -> None:
            self._sim.faults.refuse_connections = on
            if on:
                self._sim.close_listener()
            else:
                self._sim.reopen_listener()

        self._sim.call(run)
        if not on:
            self._wait_listening()

    def hang_handshake(self, on: bool = True) -> None:
        """Accept new connections but never answer their handshake (EClient.connect() blocks forever)."""
        self._sim.call(lambda: setattr(self._sim.faults, "hang_handshake", on))

    def client_id_in_use(self, count: int = 1) -> None:
        """Answer the next ``count`` START_APIs with error 326 and close, whatever their clientId."""
        self._sim.call(lambda: setattr(self._sim.faults, "client_id_in_use", count))

    def connectivity_lost(self, restore: str | None = "maintained", after: float = 1.0) -> None:
        """Send 1100 to every client; ``after`` seconds later 1102 (``"maintained"``) or 1101 (``"lost"``).

        With ``restore=None`` only 1100 is sent; call :meth:`connectivity_restored` later.
        """

        def run() -> None:
            sim = self._sim
            sim.faults.connectivity_lost = True
            sim.broadcast([enc.error(-1, 1100, "Connectivity between IB and the TWS has been lost.")])
            if restore is not None:
                sim.loop.call_later(after, lambda: self._restore(restore))

        self._sim.call(run)

    def connectivity_restored(self, data: str = "maintained") -> None:
        """Send 1102 (``"maintained"``) or 1101 (``"lost"``: market data subscriptions are dropped)."""
        self._sim.call(lambda: self._restore(data))

    def _restore(self, data: str) -> None:
        sim = self._sim
        sim.faults.connectivity_lost = False
        if data == "lost":
            for conn in sim.connections:
                conn.market_data.clear()
            sim.broadcast([enc.error(-1, 1101, "Connectivity between IB and TWS has been restored- data lost.")])
        else:
            sim.broadcast([enc.error(-1, 1102, "Connectivity between IB and TWS has been restored- data maintained.")])

    def farm_flap(self, down_for: float = 0.5) -> None:
        """Send 2103 (market data farm broken) now and 2104 (OK) ``down_for`` seconds later."""

        def run() -> None:
            sim = self._sim
            sim.broadcast([enc.error(-1, 2103, "Market data farm connection is broken:usfarm")])
            sim.loop.call_later(
                down_for, lambda: sim.broadcast([enc.error(-1, 2104, "Market data farm connection is OK:usfarm")])
            )

        self._sim.call(run)

    def delay_replies(self, seconds: float) -> None:
        """Delay every message the simulator sends by ``seconds`` (0 switches it off)."""
        self._sim.call(lambda: setattr(self._sim.faults, "reply_delay", max(0.0, float(seconds))))

    def force_4096_boundary(self, on: bool = True) -> None:
        """Make every burst end exactly on a 4096-byte boundary, as real TWS rarely does; off restores the guard.

        The burst is lengthened with trailing zeros in a float field of one of its messages (no message
        of its own), so ibapi's reader then loses it whole; a burst with no float field (errors,
        nextValidId, currentTime, account summaries) is sent as it is.
        """
        self._sim.call(lambda: setattr(self._sim.faults, "force_4096", on))

    def drop_after_orders(self, count: int = 1, client_id: int | None = None) -> None:
        """Abort a client's socket right after its ``count``-th next placeOrder (of ``client_id`` only, if given).

        Whatever the client sent after it is never read. Orders it had not transmitted are discarded.
        """
        self._arm_drop(count, client_id, held_only=False)

    def drop_mid_chain(self, after: int = 1, client_id: int | None = None) -> None:
        """Abort a client's socket right after its ``after``-th next placeOrder with ``transmit=False``.

        The chain's last ``transmit=True`` never arrives: TWS discards the held orders of the gone
        client, so nothing of the chain works at the broker.
        """
        self._arm_drop(after, client_id, held_only=True)

    def _arm_drop(self, count: int, client_id: int | None, *, held_only: bool) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")

        def run() -> None:
            faults = self._sim.faults
            faults.drop_after_orders = count
            faults.drop_held_only = held_only
            faults.drop_client_id = client_id

        self._sim.call(run)

    def restart(self, keep_state: bool = True, down_for: float = 0.0) -> None:
        """Drop every client and stop listening; listen again after ``down_for`` s on the same port.

        ``keep_state=False`` forgets orders, ids, executions and positions (and the state file's content).
        Returns once the simulator listens again.
        """

        def run() -> None:
            sim = self._sim
            sim.close_listener()
            for conn in list(sim.connections):
                conn.close()
            if not keep_state:
                sim.reset_engine()
                sim.save_state()
            if down_for <= 0:
                sim.reopen_listener()
            else:
                sim.loop.call_later(down_for, sim.reopen_listener)

        self._sim.call(run)
        self._wait_listening(timeout=down_for + 10.0)

    def _wait_listening(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._sim.call(self._sim.listening):
                return
            time.sleep(0.01)
        raise TimeoutError("simulator did not listen again")

    # -- orders --------------------------------------------------------------------------------

    def reject_next_order(self, reason: str = "Insufficient margin", code: int = 201, status: str = "Inactive") -> None:
        """Reject the next new order: error ``code`` ("Order rejected - reason:<reason>"), orderStatus(``status``)."""
        text = f"Order rejected - reason:{reason}" if code == 201 else reason
        self._queue({"kind": "reject", "code": code, "text": text, "status": status})

    def fill_next_order(self, price: float | None = None) -> None:
        """Fill the next new order completely on acceptance (at ``price`` or the touch), whatever its limit."""
        self._queue({"kind": "fill", "price": price})

    def partially_fill_next_order(self, quantity: float | None = None, price: float | None = None) -> None:
        """Fill ``quantity`` (default half) of the next new order on acceptance; the rest works but never fills."""
        self._queue({"kind": "partial", "quantity": quantity, "price": price})

    def _queue(self, fault: dict) -> None:
        self._sim.call(lambda: self._sim.engine.queue_order_fault(fault))

    def drop_status_messages(self, count: int = 1) -> None:
        """Do not send the next ``count`` orderStatus messages."""
        self._sim.call(lambda: setattr(self._sim.faults, "drop_status", count))

    def duplicate_status_messages(self, count: int = 1) -> None:
        """Send each of the next ``count`` orderStatus messages twice."""
        self._sim.call(lambda: setattr(self._sim.faults, "duplicate_status", count))

    def reorder_status_messages(self, count: int = 1) -> None:
        """Hold each of the next ``count`` orderStatus messages back until after the following one (max 0.2 s)."""
        self._sim.call(lambda: setattr(self._sim.faults, "reorder_status", count))

    def roll_back_next_valid_id(self, client_id: int, by: int = 1) -> int:
        """Announce a nextValidId ``by`` lower than the truth to ``client_id`` (103 awaits an id reuse).

        Holds until that client places a new order. Returns the id that will now be announced.
        """
        return self._sim.call(lambda: self._sim.engine.roll_back_next_valid_id(client_id, by))

    def fill_order(
        self, client_id: int, order_id: int, quantity: float | None = None, price: float | None = None
    ) -> dict:
        """Fill a working order now (all or ``quantity``) at ``price`` or the touch; returns exec_id, price, shares.

        :raises KeyError: no such working order.
        """
        return self._sim.call(
            lambda: self._sim.engine.fill_order(client_id=client_id, order_id=order_id, quantity=quantity, price=price)
        )

    def correct_execution(self, exec_id: str | None = None) -> dict:
        """Send a correction of an execution (default: the last): the same fill under execId ``...02``.

        :raises KeyError: no such execution.
        """
        return self._sim.call(lambda: self._sim.engine.correct_execution(exec_id))

    def inject_external_fill(
        self, account: str, symbol: str, action: str, quantity: float, price: float | None = None
    ) -> dict:
        """Book and fill an order entered outside the API (orderId 0, no orderRef); returns perm_id, exec_id, price.

        Its execDetails go live only to clientId 0; every client sees it through reqExecutions and positions.
        """
        return self._sim.call(
            lambda: self._sim.engine.inject_external_fill(
                account=account, symbol=symbol, action=action, quantity=quantity, price=price
            )
        )

    # -- market --------------------------------------------------------------------------------

    def set_price(self, symbol: str, price: float, bid: float | None = None, ask: float | None = None) -> dict:
        """Set ``symbol``'s last (touch one tick either side unless given), stream it and match resting orders.

        :raises KeyError: unknown symbol.
        """

        def run() -> dict:
            sim = self._sim
            quote = sim.engine.market.set_price(symbol, price, bid=bid, ask=ask)
            sim.engine.on_market_step(symbol)
            sim.publish_quote(quote)
            return {"bid": quote.bid, "ask": quote.ask, "last": quote.last}

        return self._sim.call(run)

    def freeze_market(self, on: bool = True) -> None:
        """Stop (or restart) the random walk; prices then move only through :meth:`set_price`."""
        self._sim.call(lambda: setattr(self._sim.faults, "market_frozen", on))

    def set_pacing(self, rate: float | None = None, mode: str | None = None) -> None:
        """Change the pacing limit (messages/s, 0 disables) and/or mode (``"reject"`` or ``"pace"``)."""

        def run() -> None:
            if rate is not None:
                self._sim.config.pacing_rate = float(rate)
            if mode is not None:
                if mode not in ("reject", "pace"):
                    raise ValueError("mode is reject or pace")
                self._sim.config.pacing_mode = mode

        self._sim.call(run)

    def clear_faults(self) -> None:
        """Switch every fault off (listening again if connections were refused)."""
        refused = self._sim.faults.refuse_connections

        def run() -> None:
            self._sim.faults.__dict__.update(Faults().__dict__)
            self._sim.engine.clear_order_faults()

        self._sim.call(run)
        if refused:
            self.refuse_connections(False)

    # -- inspection ----------------------------------------------------------------------------

    def ledger(self) -> dict:
        """Every placeOrder received and every execution sent: ``{"place_orders": [...], "executions": [...]}``."""
        return self._sim.ledger.snapshot()

    def clear_ledger(self) -> None:
        self._sim.ledger.clear()

    def state(self) -> dict:
        """Connected clientIds, orders, positions, cash and quotes, as plain data."""
        return self._sim.call(lambda: self._sim.engine.state())


COMMANDS = {
    name: member for name, member in inspect.getmembers(Control, inspect.isfunction) if not name.startswith("_")
}


async def serve_control(control: Control, host: str, port: int) -> asyncio.AbstractServer:
    """Serve ``control``'s commands as the JSON-lines control port on ``host:port`` (loopback only)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write((json.dumps(await _run(control, line), default=str) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=1 << 20)


async def _run(control: Control, line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
        name = request.pop("cmd")
        method = COMMANDS[name]
    except (ValueError, KeyError, AttributeError, TypeError):
        return {"ok": False, "error": f"bad command line; commands: {', '.join(sorted(COMMANDS))}"}
    try:
        # Blocking commands (restart, refuse off) wait for the loop, so they run in a worker thread.
        result = await asyncio.to_thread(method, control, **request)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "result": result}
