"""One client connection: handshake state machine, framing, pacing and request dispatch.

Reading never waits on processing: ``data_received`` cuts frames and stamps their arrival
(``time.time_ns()``, once per socket read, before any processing); paced requests wait in a queue
while the socket keeps being drained. Writing is :class:`tws_simulator.writer.Writer`'s.
"""

from __future__ import annotations

import asyncio
import logging
import time

from tws_simulator import encoder as enc
from tws_simulator import parser as p
from tws_simulator.data_requests import HANDLERS as DATA_HANDLERS
from tws_simulator.data_requests import DataRequests, unsupported_error
from tws_simulator.market import tick_frames
from tws_simulator.pacing import Pacer, Request, Verdict
from tws_simulator.portfolio import summary_tags
from tws_simulator.ports import Host
from tws_simulator.wire import (
    API_PREFIX,
    SERVER_VERSION,
    FrameError,
    FrameReader,
    handshake_reply,
    parse_version_string,
    split_fields,
)
from tws_simulator.writer import Writer

log = logging.getLogger("tws_simulator.connection")

PACING_TEXT = "Max rate of messages per second has been exceeded."
FARM_OK = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)


class Connection(asyncio.Protocol):
    """The server side of one API client socket, served for a :class:`tws_simulator.ports.Host`."""

    def __init__(self, sim: Host) -> None:
        self.sim = sim
        self.out = Writer(sim)
        self.state = "prefix"
        self.prefix = b""
        self.reader = FrameReader()
        self.client_id = -1
        self.options = ""
        self.positions_subscribed = False
        self.account_summaries: dict[int, list[str]] = {}
        self.market_data: dict[int, tuple[str, bool]] = {}
        self.market_data_type = 1
        self.pacer = Pacer(sim, self._dispatch, lambda: self.state == "ready")
        self.data = DataRequests(sim, self.send, lambda: self.state == "ready")

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.out.transport

    @transport.setter
    def transport(self, transport: asyncio.Transport | None) -> None:
        self.out.transport = transport

    # -- transport events ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sim.register(self)
        if self.sim.faults.hang_handshake:
            self.state = "hung"

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = "closed"
        self.out.closed = True
        self.sim.unregister(self)
        self.sim.engine.close_session(self)
        self.pacer.cancel()
        self.out.cancel_timers()

    def data_received(self, data: bytes) -> None:
        arrived_ns = time.time_ns()
        if self.state == "ready":
            try:
                payloads = self.reader.feed(data)
            except FrameError:
                self.close()
                return
            self.out.begin_batch()
            try:
                for payload in payloads:
                    try:
                        self._on_message(split_fields(payload), arrived_ns)
                    except Exception:  # nothing a client sends may take the simulator down
                        log.exception("message from client %s failed", self.client_id)
                        self.send([enc.error(-1, 320, "Error reading request. Unable to parse data.")])
                    if self.state != "ready":
                        return
            finally:
                self.out.end_batch()
            return
        if self.state in ("hung", "closed"):
            return
        try:
            self._handshake(data)
        except Exception:  # nothing a client sends may take the simulator down
            log.exception("handshake of a client failed")
            self.close()

    # -- handshake -----------------------------------------------------------------------------

    def _handshake(self, data: bytes) -> None:
        if self.state == "prefix":
            self.prefix += data
            if len(self.prefix) < 4:
                if not API_PREFIX.startswith(self.prefix):
                    self.close()
                return
            if not self.prefix.startswith(API_PREFIX):
                self.close()
                return
            data, self.prefix = self.prefix[4:], b""
            self.state = "version"
        try:
            payloads = self.reader.feed(data)
        except FrameError:
            self.close()
            return
        for payload in payloads:
            if self.state == "version":
                try:
                    low, high, self.options = parse_version_string(payload.decode("latin-1"))
                except FrameError:
                    self.close()
                    return
                if high < SERVER_VERSION or low > SERVER_VERSION:
                    self.close()  # TWS ends the connection on incompatible versions
                    return
                if "+PACEAPI" in self.options.split():
                    self.pacer.pace = True
                connected = time.strftime("%Y%m%d %H:%M:%S", time.gmtime()) + " UTC"
                self.out.write(handshake_reply(connected))
                self.state = "start_api"
            elif self.state == "start_api":
                fields = split_fields(payload)
                if not fields or fields[0] != str(p.START_API) or len(fields) < 3:
                    continue  # TWS ignores requests before START_API
                try:
                    client_id = p.parse_int(fields[2])
                except p.RequestError:
                    self.close()
                    return
                self._start_api(client_id)
                if self.state != "ready":
                    return
            else:
                self._on_message(split_fields(payload), time.time_ns())

    def _start_api(self, client_id: int) -> None:
        sim = self.sim
        engine = sim.engine
        in_use = "Unable to connect as the client id is already in use. Retry with a unique client id."
        if sim.faults.client_id_in_use > 0 or client_id in engine.sessions:
            if sim.faults.client_id_in_use > 0:
                sim.faults.client_id_in_use -= 1
            self.out.write(enc.error(-1, 326, in_use))
            self.close(graceful=True)
            return
        if len(engine.sessions) >= sim.config.max_clients:
            self.out.write(enc.error(-1, 326, in_use))
            self.close(graceful=True)
            return
        self.client_id = client_id
        self.state = "ready"
        engine.open_session(self)
        frames = [enc.managed_accounts(sim.config.accounts)]
        orders = engine.open_order_frames(client_id) if sim.config.open_orders_on_connect != "off" else []
        if sim.config.open_orders_on_connect == "before":
            frames += orders
        frames.append(enc.next_valid_id(engine.next_valid_id(client_id)))
        if sim.config.open_orders_on_connect == "after":
            frames += orders
        frames += [enc.error(-1, code, text) for code, text in FARM_OK]
        self.send(frames)

    # -- requests ------------------------------------------------------------------------------

    def _on_message(self, fields: list[str], arrived_ns: int) -> None:
        if not fields:
            return
        if fields[0] == "3":
            # Stamp and record before pacing or any processing: the ledger is what the client sent.
            try:
                order = p.parse_place_order(fields)
            except p.RequestError as exc:
                self.send([enc.error(exc.req_id, exc.code, exc.text)])
                return
            self.sim.ledger.record_place_order(order, client_id=self.client_id, arrived_ns=arrived_ns)
            request: Request = order
        else:
            request = fields
        verdict = self.pacer.admit(request, arrived_ns)
        if verdict is Verdict.REFUSED:
            self.send([enc.error(-1, 100, PACING_TEXT)])
            limit = self.sim.config.pacing_disconnect_after
            if limit and self.pacer.violations >= limit:
                self.close(graceful=True)
        elif verdict is Verdict.NOW:
            self._dispatch(request)

    def _dispatch(self, request: Request) -> None:
        engine = self.sim.engine
        try:
            if isinstance(request, p.PlaceOrder):
                engine.place_order(self, request)
                self._drop_mid_chain(request)
                return
            fields = request
            msg_id = int(fields[0]) if fields[0].isdigit() else -1
            handler = _HANDLERS.get(msg_id)
            data_handler = DATA_HANDLERS.get(msg_id)
            if handler is not None:
                handler(self, fields)
            elif data_handler is not None:
                data_handler(self.data, fields)
            else:
                self.send([enc.error(*unsupported_error(fields))])
        except p.RequestError as exc:
            self.send([enc.error(exc.req_id, exc.code, exc.text)])
        except Exception:  # a request must never take the simulator down
            log.exception(
                "request %r from client %s failed",
                request if isinstance(request, p.PlaceOrder) else request[:3],
                self.client_id,
            )
            self.send([enc.error(-1, 320, "Error reading request. Unable to parse data.")])

    def _drop_mid_chain(self, order: p.PlaceOrder) -> None:
        """The drop fault: abort this socket once it has sent the counted placeOrders (the rest is never read)."""
        faults = self.sim.faults
        if faults.drop_after_orders <= 0 or faults.drop_client_id not in (None, self.client_id):
            return
        if faults.drop_held_only and order.transmit:
            return
        faults.drop_after_orders -= 1
        if faults.drop_after_orders == 0:
            log.info("drop fault: closing client %s after placeOrder %s", self.client_id, order.order_id)
            self.close()

    def _req_ids(self, fields: list[str]) -> None:
        self.send([enc.next_valid_id(self.sim.engine.next_valid_id(self.client_id))])

    def _cancel_order(self, fields: list[str]) -> None:
        self.sim.engine.cancel_order(self, p.parse_int(p.field_at(fields, 2)))

    def _req_open_orders(self, fields: list[str]) -> None:
        self.send([*self.sim.engine.open_order_frames(self.client_id), enc.open_order_end()])

    def _req_all_open_orders(self, fields: list[str]) -> None:
        self.send([*self.sim.engine.open_order_frames(None), enc.open_order_end()])

    def _req_global_cancel(self, fields: list[str]) -> None:
        self.sim.engine.global_cancel()

    def _req_positions(self, fields: list[str]) -> None:
        self.positions_subscribed = True
        self.send(self.sim.engine.position_frames())

    def _cancel_positions(self, fields: list[str]) -> None:
        self.positions_subscribed = False

    def _req_account_summary(self, fields: list[str]) -> None:
        req_id = p.parse_int(p.field_at(fields, 2))
        limit = self.sim.config.account_summary_limit
        if req_id in self.account_summaries:
            self.send([enc.error(req_id, 322, "Error processing request:-'bN' : cause - Duplicate ticker id")])
            return
        if limit and len(self.account_summaries) >= limit:
            self.send(
                [
                    enc.error(
                        req_id,
                        322,
                        "Error processing request:-'bN' : cause - Maximum number of account summary requests exceeded",
                    )
                ]
            )
            return
        tags = summary_tags(p.field_at(fields, 4))
        self.account_summaries[req_id] = tags
        self.send(self.sim.engine.account_summary_frames(req_id, tags))

    def _cancel_account_summary(self, fields: list[str]) -> None:
        self.account_summaries.pop(p.parse_int(p.field_at(fields, 2)), None)

    def _req_executions(self, fields: list[str]) -> None:
        req_id, flt = p.parse_req_executions(fields)
        self.send(self.sim.engine.execution_frames(req_id, flt))

    def _req_mkt_data(self, fields: list[str]) -> None:
        req = p.parse_req_mkt_data(fields)
        market = self.sim.engine.market
        if req.symbol not in market.quotes or req.sec_type not in ("STK", ""):
            self.send([enc.error(req.req_id, 200, "No security definition has been found for the request")])
            return
        if req.req_id in self.market_data:
            self.send([enc.error(req.req_id, 322, "Error processing request:-'bN' : cause - Duplicate ticker id")])
            return
        delayed = self.market_data_type in (3, 4)
        frames: list[bytes] = []
        if not self.sim.config.market_data_subscribed:
            if not delayed:
                self.send([enc.error(req.req_id, 354, "Requested market data is not subscribed.")])
                return
            frames.append(
                enc.error(req.req_id, 10167, "Requested market data is not subscribed. Displaying delayed market data.")
            )
        elif delayed:
            delayed = False  # subscribed accounts get live data whatever type was asked for
        frames.append(enc.market_data_type(req.req_id, 3 if delayed else 1))
        frames += tick_frames(req.req_id, market.quotes[req.symbol], delayed)
        if req.snapshot:
            delay = self.sim.config.snapshot_delay
            if delay > 0:
                self.send(frames)
                self.sim.loop.call_later(delay, lambda: self.send([enc.tick_snapshot_end(req.req_id)]))
                return
            frames.append(enc.tick_snapshot_end(req.req_id))
        else:
            self.market_data[req.req_id] = (req.symbol, delayed)
        self.send(frames)

    def _cancel_mkt_data(self, fields: list[str]) -> None:
        self.market_data.pop(p.parse_int(p.field_at(fields, 2)), None)

    def _req_market_data_type(self, fields: list[str]) -> None:
        value = p.parse_int(p.field_at(fields, 2))
        if value in (1, 2, 3, 4):
            self.market_data_type = value

    def _req_current_time(self, fields: list[str]) -> None:
        self.send([enc.current_time(int(time.time()))])

    def _req_managed_accts(self, fields: list[str]) -> None:
        self.send([enc.managed_accounts(self.sim.config.accounts)])

    def on_bar_timer(self) -> None:
        """Serve this client's keepUpToDate bars and real-time bars (the simulator's bar timer)."""
        self.data.on_bar_timer()

    def refresh_account_updates(self) -> None:
        """Re-send this client's account updates, if it subscribed (the account summaries' timer)."""
        self.data.refresh_account_updates()

    def on_position_change(self, account: str, symbol: str) -> None:
        """Push the moved position to this client if it subscribed to ``account``'s updates."""
        self.data.on_position_change(account, symbol)

    # -- writing -------------------------------------------------------------------------------

    def send(self, frames: list[bytes]) -> None:
        """Write a batch of frames with one write, after any reply delay and off the 4096 boundary."""
        self.out.send(frames)

    def send_order_messages(self, items: list[tuple[str, bytes]]) -> None:
        """Send order messages, letting the drop/duplicate/reorder status faults act on orderStatus."""
        self.out.send_order_messages(items)

    def close(self, *, graceful: bool = False) -> None:
        """Close this connection (other clients are not affected): ``graceful`` first sends what is
        pending (a 326 or a last error 100), otherwise the socket is aborted, as when TWS drops one."""
        if self.state == "closed":
            return
        self.out.close(graceful=graceful)
        self.state = "closed"


_HANDLERS = {
    p.REQ_IDS: Connection._req_ids,
    p.CANCEL_ORDER: Connection._cancel_order,
    p.REQ_OPEN_ORDERS: Connection._req_open_orders,
    p.REQ_ALL_OPEN_ORDERS: Connection._req_all_open_orders,
    p.REQ_GLOBAL_CANCEL: Connection._req_global_cancel,
    p.REQ_POSITIONS: Connection._req_positions,
    p.CANCEL_POSITIONS: Connection._cancel_positions,
    p.REQ_ACCOUNT_SUMMARY: Connection._req_account_summary,
    p.CANCEL_ACCOUNT_SUMMARY: Connection._cancel_account_summary,
    p.REQ_EXECUTIONS: Connection._req_executions,
    p.REQ_MKT_DATA: Connection._req_mkt_data,
    p.CANCEL_MKT_DATA: Connection._cancel_mkt_data,
    p.REQ_MARKET_DATA_TYPE: Connection._req_market_data_type,
    p.REQ_CURRENT_TIME: Connection._req_current_time,
    p.REQ_MANAGED_ACCTS: Connection._req_managed_accts,
}
