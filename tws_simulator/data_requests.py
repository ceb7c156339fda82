"""One connection's market-data and account requests beyond quotes: history, bars, contracts, account updates.

Also the answer to every request the simulator does not serve: error 321 naming it, never silence.
Heavy answers (bars over a long window) are computed off the loop thread and sent when ready, so a
history request never holds up the order path of other clients.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

from tws_simulator import account_updates as acct
from tws_simulator import contracts
from tws_simulator import encoder as enc
from tws_simulator import history as h
from tws_simulator import parser as p
from tws_simulator.history_pacing import VIOLATION, HistoryPacing, Limits
from tws_simulator.ports import Host
from tws_simulator.trading_hours import TradingHours, warm

log = logging.getLogger("tws_simulator.data")

# Requests TWS knows and the simulator does not serve: message id -> (name, index of its request id or None).
UNSUPPORTED = {
    10: ("reqMktDepth", 2), 11: ("cancelMktDepth", 2), 12: ("reqNewsBulletins", None),
    13: ("cancelNewsBulletins", None), 14: ("setServerLogLevel", None), 15: ("reqAutoOpenOrders", None),
    18: ("requestFA", None), 19: ("replaceFA", None), 21: ("exerciseOptions", 2),
    22: ("reqScannerSubscription", 1), 23: ("cancelScannerSubscription", 2), 24: ("reqScannerParameters", None),
    52: ("reqFundamentalData", 2), 53: ("cancelFundamentalData", 2), 54: ("calculateImpliedVolatility", 2),
    55: ("calculateOptionPrice", 2), 56: ("cancelCalculateImpliedVolatility", 2),
    57: ("cancelCalculateOptionPrice", 2), 65: ("verifyRequest", None), 66: ("verifyMessage", None),
    67: ("queryDisplayGroups", 2), 68: ("subscribeToGroupEvents", 2), 69: ("updateDisplayGroup", 2),
    70: ("unsubscribeFromGroupEvents", 2), 72: ("verifyAndAuthRequest", None), 73: ("verifyAndAuthMessage", None),
    74: ("reqPositionsMulti", 2), 75: ("cancelPositionsMulti", 2), 78: ("reqSecDefOptParams", 1),
    79: ("reqSoftDollarTiers", 1),
    80: ("reqFamilyCodes", None), 82: ("reqMktDepthExchanges", None), 83: ("reqSmartComponents", 1),
    84: ("reqNewsArticle", 1), 85: ("reqNewsProviders", None), 86: ("reqHistoricalNews", 1),
    87: ("reqHeadTimeStamp", 1), 88: ("reqHistogramData", 1), 89: ("cancelHistogramData", 1),
    90: ("cancelHeadTimeStamp", 1), 91: ("reqMarketRule", None), 92: ("reqPnL", 1), 93: ("cancelPnL", 1),
    94: ("reqPnLSingle", 1), 95: ("cancelPnLSingle", 1), 96: ("reqHistoricalTicks", 1),
    97: ("reqTickByTickData", 1), 98: ("cancelTickByTickData", 1), 100: ("reqWshMetaData", 1),
}  # fmt: skip


def unsupported_error(fields: list[str]) -> tuple[int, int, str]:
    """(reqId, code, text) answering a request the simulator does not serve, or a message id TWS does not know."""
    try:
        msg_id = int(fields[0])
    except ValueError:
        return -1, 321, f"Error validating request.-'bX' : cause - Unknown message id: {p.quote(fields[0])}"
    name, at = UNSUPPORTED.get(msg_id, (None, None))
    if name is None:
        return -1, 321, f"Error validating request.-'bX' : cause - Unknown message id: {msg_id}"
    req_id = -1
    if at is not None:
        try:
            req_id = p.parse_int(p.field_at(fields, at))
        except p.RequestError:
            req_id = -1
    return req_id, 321, f"Error validating request.-'bX' : cause - {name} is not supported by this simulated TWS"


class DataRequests:
    """The data requests of one connection and its live subscriptions (keepUpToDate, real-time bars)."""

    def __init__(self, sim: Host, send: Callable[[list[bytes]], None], is_open: Callable[[], bool]) -> None:
        self.sim = sim
        self.send = send
        self.is_open = is_open
        self.hours = TradingHours(sim.config.time_zone, sim.config.calendar)
        self.pacing = HistoryPacing(Limits.of(sim.config))
        # req_id -> (request, last update sent) and req_id -> [symbol, whatToShow, useRTH, last bar start]
        self.live_history: dict[int, tuple[h.HistoryRequest, tuple | None]] = {}
        self.realtime: dict[int, list] = {}
        self.account_updates: str | None = None

    @property
    def market(self):
        return self.sim.engine.market

    def now(self) -> float:
        return self.market.clock()

    def _error(self, req_id: int, code: int, text: str) -> None:
        self.send([enc.error(req_id, code, text)])

    # -- history -------------------------------------------------------------------------------

    def req_historical_data(self, fields: list[str]) -> None:
        """Answer reqHistoricalData: checks, pacing, then the bars (computed off the loop thread).

        :raises RequestError: 320/321/200 as TWS answers a bad or unknown request.
        """
        req = h.parse_history_request(fields)
        h.check(req)
        if not h.known(self.market, req.contract):
            raise p.RequestError(200, h.UNKNOWN_CONTRACT, req.req_id)
        if req.req_id in self.live_history:
            raise p.RequestError(322, "Error processing request:-'bN' : cause - Duplicate ticker id", req.req_id)
        now = self.now()
        h.parse_end(req.end_text, now, self.hours.zone, req.req_id)
        key = (req.contract.key(), req.what)
        if not self.pacing.admit(now, req.identity(), key):
            raise p.RequestError(162, VIOLATION, req.req_id)
        if req.keep_up_to_date:
            self.live_history[req.req_id] = (req, None)
        market, hours, limit = self.market, self.hours, self.sim.config.history_max_bars
        self._off_loop(lambda: [h.answer(market, hours, req, now, limit)], req.req_id)

    def _off_loop(self, compute: Callable[[], list[bytes]], req_id: int) -> None:
        """Run ``compute`` in a worker thread (bars, or the exchange calendar's first build) and send its frames."""
        future = self.sim.loop.run_in_executor(None, compute)
        future.add_done_callback(lambda f: self._deliver(f, req_id))

    def _deliver(self, future, req_id: int) -> None:
        """Send a computed answer on the loop thread; a failed one ends its keepUpToDate and is answered as an error."""
        try:
            frames = future.result()
        except p.RequestError as exc:
            self.live_history.pop(req_id, None)
            frames = [enc.error(exc.req_id, exc.code, exc.text)]
        except Exception:  # a request must never take the simulator down
            log.exception("historical request %s failed", req_id)
            self.live_history.pop(req_id, None)
            frames = [enc.error(req_id, 322, "Error processing request:-'bN' : cause - The request failed")]
        if self.is_open():
            self.send(frames)

    def cancel_historical_data(self, fields: list[str]) -> None:
        """Stop a keepUpToDate request; 366 when no such query is live."""
        req_id = p.parse_int(p.field_at(fields, 2))
        if self.live_history.pop(req_id, None) is None:
            self._error(req_id, 366, f"No historical data query found for ticker id:{req_id}")

    # -- real-time bars ------------------------------------------------------------------------

    def req_real_time_bars(self, fields: list[str]) -> None:
        """Subscribe to 5-second bars: [50, 3, reqId, conId, symbol, ..., tradingClass, barSize, whatToShow, useRTH].

        :raises RequestError: 200 unknown contract; 321 bar size other than 5 or a bad whatToShow; 322 duplicate id.
        """
        req_id = p.parse_int(p.field_at(fields, 2))
        contract = h.contract_at(fields, 3, req_id)
        bar_size = p.parse_int(p.field_at(fields, 15), req_id=req_id)
        what = p.field_at(fields, 16).strip().upper()
        rth = p.parse_int(p.field_at(fields, 17), req_id=req_id) != 0
        if not h.known(self.market, contract):
            raise p.RequestError(200, h.UNKNOWN_CONTRACT, req_id)
        cause = "Error validating request.-'bR' : cause - "
        if bar_size != h.REALTIME_BAR:
            raise p.RequestError(321, f"{cause}Real time bars are 5 seconds only, not {bar_size}", req_id)
        if what not in ("TRADES", "MIDPOINT", "BID", "ASK"):
            raise p.RequestError(321, f"{cause}Invalid whatToShow for real time bars: {p.quote(what)}", req_id)
        if req_id in self.realtime:
            raise p.RequestError(322, "Error processing request:-'bN' : cause - Duplicate ticker id", req_id)
        last = math.floor(self.now() / h.REALTIME_BAR) * h.REALTIME_BAR - h.REALTIME_BAR
        self.realtime[req_id] = [h.symbol_of(self.market, contract), what, rth, last]
        warm(self.sim.config.calendar)  # the bar timer reads the sessions: build them off the loop now

    def cancel_real_time_bars(self, fields: list[str]) -> None:
        self.realtime.pop(p.parse_int(p.field_at(fields, 2)), None)

    def on_bar_timer(self) -> None:
        """Send the forming bar of each keepUpToDate request that changed, and each newly closed 5-second bar."""
        if not (self.live_history or self.realtime):
            return
        now = self.now()
        frames: list[bytes] = []
        for req_id, (req, sent) in list(self.live_history.items()):
            b = h.forming_bar(self.market, self.hours, req, now)
            if b is None:
                continue
            seen = (b.start, b.open, b.high, b.low, b.close)
            if seen != sent:
                frames.append(h.update_frame(req_id, b, req.format_date, self.hours))
                self.live_history[req_id] = (req, seen)
        closed = math.floor(now / h.REALTIME_BAR) * h.REALTIME_BAR - h.REALTIME_BAR
        for req_id, sub in self.realtime.items():
            symbol, what, rth, last = sub
            if closed <= last:
                continue
            sub[3] = closed
            day = self.hours.local(closed).date()
            session = self.hours.session(day, rth=rth)
            if session and session[0] <= closed < session[1]:
                frames.append(h.realtime_bar_frame(req_id, h.realtime_bar(self.market, symbol, closed, what)))
        if frames:
            self.send(frames)

    # -- contracts -----------------------------------------------------------------------------

    def req_contract_details(self, fields: list[str]) -> None:
        """Answer reqContractDetails (off the loop: its trading hours may build the exchange calendar)."""
        market, hours, now = self.market, self.hours, self.now()
        req_id = p.parse_int(p.field_at(fields, 2))
        self._off_loop(lambda: contracts.contract_details_frames(market, hours, fields, now), req_id)

    def req_matching_symbols(self, fields: list[str]) -> None:
        self.send([contracts.matching_symbols_frame(self.market, fields)])

    # -- account -------------------------------------------------------------------------------

    def req_account_updates(self, fields: list[str]) -> None:
        """Start (with the download) or stop account updates: [6, 2, subscribe, acctCode].

        :raises RequestError: 321 for an account this TWS does not manage.
        """
        subscribe = p.field_at(fields, 2) not in ("", "0")
        accounts = self.sim.config.accounts
        account = p.field_at(fields, 3).strip() or accounts[0]
        if not subscribe:
            self.account_updates = None
            return
        if account not in accounts:
            cause = f"Invalid account code: {p.quote(account)}"
            raise p.RequestError(321, f"Error validating request.-'bA' : cause - {cause}")
        self.account_updates = account
        self.send(self.sim.engine.account_update_frames(account, self.now()))

    def refresh_account_updates(self) -> None:
        """Re-send the subscribed account's values and portfolio (TWS refreshes them every few minutes)."""
        if self.account_updates is not None:
            self.send(self.sim.engine.account_update_frames(self.account_updates, self.now()))

    def on_position_change(self, account: str, symbol: str) -> None:
        """Push the values and the moved position of the subscribed account, as TWS does on a fill."""
        if self.account_updates == account:
            self.send(self.sim.engine.account_update_frames(account, self.now(), changed=symbol))

    def req_account_updates_multi(self, fields: list[str]) -> None:
        """Answer reqAccountUpdatesMulti [76, 1, reqId, account, modelCode, ledgerAndNLV] once (no live updates).

        :raises RequestError: 321 for an account this TWS does not manage (``All`` means the first).
        """
        req_id = p.parse_int(p.field_at(fields, 2))
        accounts = self.sim.config.accounts
        account = p.field_at(fields, 3).strip()
        account = accounts[0] if account in ("", "All") else account
        if account not in accounts:
            cause = f"Invalid account code: {p.quote(account)}"
            raise p.RequestError(321, f"Error validating request.-'bA' : cause - {cause}", req_id)
        self.send(acct.account_update_multi_frames(req_id, account, self.sim.engine.account_values(account)))

    def cancel_account_updates_multi(self, fields: list[str]) -> None:
        """Nothing to stop: the multi answer is not kept live here."""

    def req_completed_orders(self, fields: list[str]) -> None:
        api_only = p.field_at(fields, 1) not in ("", "0")
        self.send(self.sim.engine.completed_order_frames(api_only=api_only))


HANDLERS: dict[int, Callable[[DataRequests, list[str]], None]] = {
    h.REQ_HISTORICAL_DATA: DataRequests.req_historical_data,
    h.CANCEL_HISTORICAL_DATA: DataRequests.cancel_historical_data,
    h.REQ_REAL_TIME_BARS: DataRequests.req_real_time_bars,
    h.CANCEL_REAL_TIME_BARS: DataRequests.cancel_real_time_bars,
    contracts.REQ_CONTRACT_DATA: DataRequests.req_contract_details,
    contracts.REQ_MATCHING_SYMBOLS: DataRequests.req_matching_symbols,
    acct.REQ_ACCOUNT_UPDATES: DataRequests.req_account_updates,
    acct.REQ_ACCOUNT_UPDATES_MULTI: DataRequests.req_account_updates_multi,
    acct.CANCEL_ACCOUNT_UPDATES_MULTI: DataRequests.cancel_account_updates_multi,
    acct.REQ_COMPLETED_ORDERS: DataRequests.req_completed_orders,
}
